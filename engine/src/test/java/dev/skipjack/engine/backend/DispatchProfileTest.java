package dev.skipjack.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.backend.DispatchProfile.Choice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DispatchProfileTest {
    @Test
    void builtInProfilesByName() throws IOException {
        assertSame(DispatchProfile.cpu(), DispatchProfile.of("cpu"));
        assertSame(DispatchProfile.gpu(), DispatchProfile.of("gpu"));
        assertSame(DispatchProfile.auto(), DispatchProfile.of("auto"));
        assertEquals(Choice.CPU, DispatchProfile.cpu().choice("layer1.0.conv1"));
        assertEquals(Choice.GPU, DispatchProfile.gpu().choice("fc"));
        assertEquals(Choice.AUTO, DispatchProfile.auto().choice("maxpool"));
    }

    @Test
    void rulesGlobsCommentsAndLastMatchWins() {
        var p = DispatchProfile.parse("""
                # pin the heavy stages
                *            = gpu      # everything...
                fc           = cpu      # ...but the classifier

                layer4.*     = auto
                *.downsample.0 = cpu
                layer?.0.conv1 = gpu
                """, "my.profile");
        assertEquals("file my.profile", p.name());
        assertEquals(5, p.rules().size());
        assertEquals(Choice.GPU, p.choice("conv1"));
        assertEquals(Choice.GPU, p.choice("maxpool"));
        assertEquals(Choice.CPU, p.choice("fc"));
        assertEquals(Choice.AUTO, p.choice("layer4.1.conv2"));
        assertEquals(Choice.CPU, p.choice("layer4.0.downsample.0"));
        assertEquals(Choice.GPU, p.choice("layer4.0.conv1"), "a later rule overrides layer4.*");
        assertEquals(Choice.GPU, p.choice("layer2.0.conv1"));
        assertEquals(Choice.GPU, p.choice("layer2.1.conv1"), "? is one character, so layer?.0 does not match it "
                + "but * still does");
        assertEquals(7, p.ruleFor("layer2.0.conv1").line());
        assertTrue(p.reason("fc").contains("line 3"), p.reason("fc"));
    }

    @Test
    void dotsAndOtherRegexCharactersAreLiteral() {
        var p = DispatchProfile.parse("layer1.0.conv1 = gpu\n", "f");
        assertEquals(Choice.GPU, p.choice("layer1.0.conv1"));
        assertEquals(Choice.CPU, p.choice("layer1x0.conv1"), "a dot in a pattern is not a regex wildcard");
        assertEquals(Choice.CPU, p.choice("layer1.0.conv10"), "patterns match whole names");
    }

    @Test
    void unmatchedLayersRunOnTheCpu() {
        var p = DispatchProfile.parse("layer3.* = gpu", "f");
        assertEquals(Choice.CPU, p.choice("layer2.0.conv1"));
        assertNull(p.ruleFor("layer2.0.conv1"));
        assertTrue(p.reason("layer2.0.conv1").contains("no rule matches"));
    }

    @Test
    void malformedLinesNameTheFileAndLine() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> DispatchProfile.parse("fc = cpu\nlayer1.* gpu\n", "p.txt"));
        assertEquals("p.txt:2: expected 'LAYER-OR-GLOB = cpu|gpu|auto', got 'layer1.* gpu'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DispatchProfile.parse("\n\nfc = tpu\n", "p.txt"));
        assertEquals("p.txt:3: unknown backend 'tpu' for 'fc' (expected cpu, gpu or auto)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DispatchProfile.parse(" = gpu", "p.txt"));
        assertEquals("p.txt:1: no layer name or glob before '='", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DispatchProfile.parse("layer 1 = gpu", "p.txt"));
        assertEquals("p.txt:1: layer pattern 'layer 1' contains a space", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DispatchProfile.parse("fc = GPU", "p.txt"));
        assertTrue(e.getMessage().startsWith("p.txt:1: unknown backend 'GPU'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DispatchProfile.parse("# nothing\n\n", "p.txt"));
        assertTrue(e.getMessage().startsWith("p.txt: the profile has no rules"), e.getMessage());
    }

    @Test
    void profileFilesAndMissingNames(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("pin.profile");
        Files.writeString(f, "* = gpu\r\nfc = cpu\r\n");
        var p = DispatchProfile.of(f.toString());
        assertEquals(Choice.GPU, p.choice("conv1"));
        assertEquals(Choice.CPU, p.choice("fc"));
        assertEquals("file " + f, p.name());

        Files.writeString(dir.resolve("bad.profile"), "fc = cuda\n");
        var e = assertThrows(IllegalArgumentException.class, () -> DispatchProfile.of(dir.resolve("bad.profile").toString()));
        assertTrue(e.getMessage().startsWith(dir.resolve("bad.profile") + ":1: unknown backend 'cuda'"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> DispatchProfile.of("gpus"));
        assertEquals("profile 'gpus' is not cpu, gpu or auto, and there is no such file", e.getMessage());
    }
}
