package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.format.ModelFile;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class InspectCommandTest {
    @TempDir
    Path tmp;

    private static String inspect(String... args) throws IOException {
        var out = new ByteArrayOutputStream();
        assertEquals(0, InspectCommand.run(args, new PrintStream(out, true, StandardCharsets.UTF_8)));
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The table rows (after the one or two header lines, before the summary). */
    private static List<String> rows(String listing) {
        List<String> lines = listing.lines().toList();
        int header = 0;
        while (!lines.get(header).startsWith("name ")) {
            header++;
        }
        return lines.subList(header, lines.size() - 1);
    }

    /** A checkpoint and the model converted from it list the same names, dtypes, shapes and checksums. */
    @ParameterizedTest
    @ValueSource(strings = {"tiny_bottleneck/checkpoint.pt", "formats/float16.pt", "formats/noncontiguous.pt"})
    void checkpointAndModelListTheSameTensors(String checkpoint) throws IOException {
        Path ckpt = Fixtures.path(checkpoint);
        Path model = tmp.resolve("m.skj");
        ConvertAssertions.convert(ckpt, model);
        String a = inspect(ckpt.toString());
        String b = inspect(model.toString());
        assertTrue(a.startsWith("checkpoint " + ckpt + ": zip format, state_dict in the top-level dict"), a);
        assertTrue(b.startsWith("model file " + model + ": custom ("), b);
        assertTrue(b.contains("converted from " + ckpt.getFileName() + " (sha256 "), b);
        assertEquals(rows(a), rows(b));
        assertTrue(inspect(model.toString(), "--verify").endsWith("all checksums verified\n"));
        assertTrue(rows(a).size() > 70);
    }

    @Test
    void showsTheSourceDtype() throws IOException {
        String out = inspect(Fixtures.path("formats/bfloat16.pt").toString());
        assertTrue(out.lines().anyMatch(l -> l.startsWith("conv1.weight ") && l.contains(" float32 (bfloat16) ")
                && l.contains(" [64, 3, 7, 7] ")), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("bn1.num_batches_tracked ") && l.contains(" int64 ")
                && l.contains(" [] ")), out);
        assertTrue(out.contains("architecture: custom (basic [1, 1, 1, 1], 10 classes)"), out);
    }

    @Test
    void verifyFindsCorruption() throws IOException {
        Path model = tmp.resolve("m.skj");
        ConvertAssertions.convert(Fixtures.path("tiny_basic/checkpoint.pt"), model);
        long offset;
        try (Arena arena = Arena.ofConfined()) {
            offset = ModelFile.open(model, arena).header().getTensorsList().stream()
                    .filter(t -> t.getName().equals("layer2.0.conv1.weight")).findFirst().orElseThrow().getOffset();
        }
        try (FileChannel ch = FileChannel.open(model, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {0x55, 0x55, 0x55, 0x55}), offset + 100);
        }
        String msg = assertThrows(IOException.class, () -> inspect(model.toString(), "--verify")).getMessage();
        assertTrue(msg.contains("1 tensors do not match their CRC-32; the file is corrupt"), msg);
    }

    @Test
    void helpAndUsage() throws IOException {
        assertTrue(inspect("--help").startsWith("usage: ./skipjack inspect FILE"));
        var e = assertThrows(IllegalArgumentException.class, () -> inspect());
        assertTrue(e.getMessage().startsWith("missing FILE"));
        var out = new ByteArrayOutputStream();
        assertEquals(0, ConvertCommand.run(new String[] {"--help"}, new PrintStream(out), new PrintStream(out)));
        assertTrue(out.toString().contains("--arch NAME") && out.toString().contains("wide_resnet101_2"));
        e = assertThrows(IllegalArgumentException.class, () -> ConvertCommand.run(new String[] {"x.pt"},
                new PrintStream(out), new PrintStream(out)));
        assertTrue(e.getMessage().startsWith("missing -o MODEL"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ConvertCommand.run(new String[] {"x.pt", "--bogus"},
                new PrintStream(out), new PrintStream(out)));
        assertTrue(e.getMessage().startsWith("unknown option --bogus"), e.getMessage());
    }
}
