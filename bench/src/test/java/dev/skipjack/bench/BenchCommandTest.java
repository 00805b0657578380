package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole command on a seeded ResNet-18 at a small input (fast even before the JIT has compiled anything). */
class BenchCommandTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) throws Exception {
        return BenchCommand.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void jsonOutputIsTheHistoryLine(@TempDir Path dir) throws Exception {
        Path history = dir.resolve("h/history.jsonl");
        assertEquals(0, run("--arch", "resnet18", "--size", "32x40", "--batch", "1,2", "--threads", "1",
                "--warmup", "0", "--iterations", "2", "--settle", "0", "--json", "--history", history.toString()));
        String json = out.toString(StandardCharsets.UTF_8).strip();
        assertFalse(json.contains("\n"));
        List<String> lines = Files.readAllLines(history);
        assertEquals(List.of(json), lines);
        assertTrue(json.contains("\"model\":\"resnet18\",\"model_file\":null,\"seeded\":true"), json);
        assertTrue(json.contains("\"batches\":[1,2],\"threads\":1,\"height\":32,\"width\":40"), json);
        assertTrue(json.contains("{\"batch\":1,\"runtime\":\"skipjack\""), json);
        assertTrue(json.contains("{\"batch\":2,\"runtime\":\"skipjack\""), json);
        assertFalse(json.contains("onnxruntime\",\"threads"), json);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("appended this run to"));
    }

    @Test
    void tableForPeople() throws Exception {
        assertEquals(0, run("--arch", "resnet18", "--size", "32", "--threads", "1", "--warmup", "1",
                "--iterations", "1", "--history", "none"));
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.startsWith("resnet18 (seeded weights, seed 42), input 32x32, 1 threads;"), text);
        assertTrue(text.contains("model     batch  threads  runtime   ms/img"), text);
        assertTrue(text.contains("\nresnet18      1        1  skipjack "), text);
        assertTrue(text.contains("FP32 peak, measured: "), text);
        assertTrue(text.contains("Time to first logits at batch 1: skipjack "), text);
        assertFalse(err.toString(StandardCharsets.UTF_8).contains("appended"));
    }

    @Test
    void helpGoesToStdout() throws Exception {
        assertEquals(0, run("--help"));
        assertEquals(BenchOptions.USAGE, out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void unknownArchitectureFailsBeforeMeasuring() {
        assertThrows(IllegalArgumentException.class, () -> run("--arch", "resnet7", "--history", "none"));
    }
}
