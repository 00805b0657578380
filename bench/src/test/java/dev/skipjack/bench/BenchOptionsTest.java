package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchOptionsTest {
    private static BenchOptions parse(String... args) {
        return BenchOptions.parse(args, 6);
    }

    private static String error(String... args) {
        return assertThrows(IllegalArgumentException.class, () -> parse(args)).getMessage();
    }

    @Test
    void defaultsRunASeededResNet50OnAllCores() {
        BenchOptions o = parse();
        assertNull(o.model());
        assertNull(o.onnx());
        assertEquals("resnet50", o.arch());
        assertEquals(List.of(1), o.batches());
        assertEquals(6, o.threads());
        assertEquals(224, o.height());
        assertEquals(224, o.width());
        assertEquals(Budget.ofRounds(10), o.warmup());
        assertEquals(Budget.ofRounds(30), o.measure());
        assertFalse(o.json());
        assertEquals(30_000_000L, o.settleNanos());
        assertEquals(Path.of("bench", "history-local", "history.jsonl"), o.history());
        assertFalse(o.help());
        assertFalse(o.layers());
        assertTrue(parse("--layers").layers());
    }

    @Test
    void everyOptionInBothSpellings() {
        BenchOptions o = parse("--model", "m.skj", "--onnx=m.onnx", "--batch", "1,8", "--threads=2",
                "--size", "197x263", "--warmup", "5s", "--iterations=40", "--json", "--history", "h.jsonl",
                "--seed", "7", "--settle", "0.5");
        assertEquals(Path.of("m.skj"), o.model());
        assertEquals(Path.of("m.onnx"), o.onnx());
        assertEquals(List.of(1, 8), o.batches());
        assertEquals(2, o.threads());
        assertEquals(197, o.height());
        assertEquals(263, o.width());
        assertEquals(Budget.ofNanos(5_000_000_000L, 0), o.warmup());
        assertEquals(Budget.ofRounds(40), o.measure());
        assertTrue(o.json());
        assertEquals(Path.of("h.jsonl"), o.history());
        assertEquals(7, o.seed());
        assertEquals(500_000L, o.settleNanos());
        assertEquals(0, parse("--settle=0").settleNanos());
    }

    @Test
    void squareSizeAndSeededArch() {
        BenchOptions o = parse("--size", "256", "--arch", "resnet18");
        assertEquals(256, o.height());
        assertEquals(256, o.width());
        assertEquals("resnet18", o.arch());
    }

    @Test
    void timedIterationsKeepAMinimumOfRounds() {
        Budget b = parse("--iterations", "20s").measure();
        assertTrue(b.isTimed());
        assertEquals(Budget.MIN_MEASURED_ROUNDS, b.minRounds());
    }

    @Test
    void historyNoneTurnsItOff() {
        assertNull(parse("--history", "none").history());
    }

    @Test
    void helpWinsOverEverythingAfterIt() {
        assertTrue(parse("--help", "--bogus").help());
        assertTrue(parse("-h").help());
    }

    @Test
    void errorsNameTheOption() {
        assertTrue(error("--bogus").contains("unknown option '--bogus'"));
        assertTrue(error("--batch").contains("--batch needs a value"));
        assertTrue(error("--batch", "0").startsWith("--batch must be between 1"));
        assertTrue(error("--batch", "1,,8").startsWith("--batch takes a whole number"));
        assertTrue(error("--batch", "8,8").contains("twice"));
        assertTrue(error("--threads", "two").startsWith("--threads takes a whole number"));
        assertTrue(error("--threads", "0").startsWith("--threads must be between 1"));
        assertTrue(error("--size", "224x").startsWith("--size takes a whole number"));
        assertTrue(error("--size", "0x224").startsWith("--size must be between 1"));
        assertTrue(error("--history=").contains("non-empty"));
        assertTrue(error("--settle", "-1").startsWith("--settle must be between 0"));
        assertTrue(error("--settle", "soon").startsWith("--settle takes milliseconds"));
    }

    @Test
    void onnxNeedsAModelFileWithTheSameWeights() {
        assertTrue(error("--onnx", "m.onnx").startsWith("--onnx needs --model FILE"));
    }

    @Test
    void archAndModelExcludeEachOther() {
        assertTrue(error("--model", "m.skj", "--arch", "resnet18").contains("cannot be combined"));
    }

    @Test
    void usageMentionsEveryOption() {
        for (String opt : List.of("--model", "--arch", "--seed", "--onnx", "--batch", "--threads", "--size",
                "--warmup", "--iterations", "--settle", "--json", "--history", "--help")) {
            assertTrue(BenchOptions.USAGE.contains(opt), opt);
        }
    }

    @Test
    void profileOption(@TempDir Path dir) throws IOException {
        assertNull(BenchOptions.parse(new String[0], 2).profile(), "default: every layer on the CPU");
        assertEquals("gpu", BenchOptions.parse(new String[] {"--profile", "gpu"}, 2).profile().name());
        assertEquals("auto", BenchOptions.parse(new String[] {"--profile=auto"}, 2).profile().name());
        Path f = dir.resolve("p.profile");
        Files.writeString(f, "layer4.* = gpu\n");
        assertEquals("file " + f, BenchOptions.parse(new String[] {"--profile", f.toString()}, 2).profile().name());
        var e = assertThrows(IllegalArgumentException.class,
                () -> BenchOptions.parse(new String[] {"--profile", "tpu"}, 2));
        assertEquals("--profile: profile 'tpu' is not cpu, gpu or auto, and there is no such file", e.getMessage());
    }
}
