package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchTest {
    private final FakeClock clock = new FakeClock();
    private final List<String> log = new ArrayList<>();
    private final Harness harness =
            new Harness(clock, new Progress(new PrintStream(new ByteArrayOutputStream()), false, clock), 0,
                    nanos -> { });

    private static BenchOptions options(String... args) {
        String[] all = new String[args.length + 2];
        all[0] = "--size";
        all[1] = "8x6";
        System.arraycopy(args, 0, all, 2, args.length);
        return BenchOptions.parse(all, 2);
    }

    @Test
    void sideBySideGivesRatioAndLogitDifferencePerBatch() throws Exception {
        var sj = new ScriptedRunner("skipjack", clock, 900, 10, 0f, 5, log);
        var ort = new ScriptedRunner("onnxruntime", clock, 200, 12.5f, 0.25f, 5, log);
        BenchOptions o = options("--model", "m", "--onnx", "m.onnx", "--batch", "1,4", "--warmup", "2",
                "--iterations", "6");
        List<Bench.BatchResult> res = Bench.measureAll(o, sj, (n, h, w) -> 1_000_000_000L * n, ort, harness);
        assertEquals(2, res.size());
        assertEquals(List.of("skipjack:bind1", "onnxruntime:bind1"), log.subList(0, 2));

        Bench.BatchResult b4 = res.get(1);
        assertEquals(4, b4.batch());
        assertEquals(4_000_000_000L, b4.flops());
        assertEquals(0.25, b4.maxLogitDiff(), 1e-6);
        assertEquals(6, b4.skipjack().samplesMs().length);
        assertEquals(900, b4.skipjack().firstCallMs(), 1e-9);

        List<Report.Row> rows = Bench.rows("resnet50", 2, res, 1000);
        assertEquals(List.of("skipjack", "onnxruntime", "skipjack", "onnxruntime"),
                rows.stream().map(Report.Row::runtime).toList());
        Report.Row sj4 = rows.get(2);
        assertEquals(10, sj4.perImageMs().median(), 1e-9);
        assertEquals(0.8, sj4.ratioVsOrt().value(), 1e-9);   // 10 / 12.5 ms per image
        assertEquals(0.8, sj4.ratioVsOrt().lo(), 1e-9);      // every round the same: no spread to resample
        assertEquals(0.8, sj4.ratioVsOrt().hi(), 1e-9);
        assertEquals(100, sj4.gflops(), 1e-9);       // 4 GFLOP in 40 ms
        assertEquals(10, sj4.percentOfPeak(), 1e-9);
        assertNull(rows.get(3).ratioVsOrt());
        assertNull(rows.get(3).maxLogitDiff());
    }

    @Test
    void skipjackAloneHasNoComparison() throws Exception {
        var sj = new ScriptedRunner("skipjack", clock, 900, 10, 0f, 5, log);
        List<Bench.BatchResult> res = Bench.measureAll(options("--iterations", "3", "--warmup", "0"), sj,
                (n, h, w) -> 1, null, harness);
        assertNull(res.get(0).ort());
        assertNull(res.get(0).maxLogitDiff());
        assertNull(Bench.rows("resnet50", 2, res, 1).get(0).ratioVsOrt());
    }

    @Test
    void differentClassCountsAreRefused() {
        var sj = new ScriptedRunner("skipjack", clock, 1, 1, 0f, 1000, log);
        var ort = new ScriptedRunner("onnxruntime", clock, 1, 1, 0f, 10, log);
        var e = assertThrows(IllegalArgumentException.class, () -> Bench.measureAll(
                options("--model", "a", "--onnx", "b.onnx"), sj, (n, h, w) -> 1, ort, harness));
        assertTrue(e.getMessage().contains("1000 classes") && e.getMessage().contains("b.onnx"), e.getMessage());
    }

    @Test
    void seededInputIsReproducibleAndLooksNormal() {
        try (Arena arena = Arena.ofConfined()) {
            float[] a = Bench.seededInput(arena, 2, 16, 16, 42).toArray(ValueLayout.JAVA_FLOAT);
            float[] b = Bench.seededInput(arena, 2, 16, 16, 42).toArray(ValueLayout.JAVA_FLOAT);
            float[] c = Bench.seededInput(arena, 2, 16, 16, 43).toArray(ValueLayout.JAVA_FLOAT);
            assertArrayEquals(a, b);
            assertFalse(java.util.Arrays.equals(a, c));
            double sum = 0;
            double sq = 0;
            for (float v : a) {
                sum += v;
                sq += v * v;
            }
            assertEquals(0, sum / a.length, 0.1);
            assertEquals(1, sq / a.length, 0.15);
        }
    }

    @Test
    void historyAppendsOneLinePerRun(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("sub/dir/history.jsonl");
        Bench.appendHistory(file, "{\"run\":1}");
        Bench.appendHistory(file, "{\"run\":2}");
        assertEquals(List.of("{\"run\":1}", "{\"run\":2}"), Files.readAllLines(file));
        assertThrows(IllegalArgumentException.class, () -> Bench.appendHistory(file, "a\nb"));
    }

    @Test
    void recordHoldsWhenWhereWhatAndResults() {
        BenchOptions o = options("--model", "m.skj", "--onnx", "m.onnx", "--batch", "1,8", "--threads", "2");
        var machine = new MachineInfo(2, "AMD EPYC", List.of("avx2", "fma"), "Linux 6.1", "25.0.1 (OpenJDK)",
                "0123456789abcdef0123456789abcdef01234567", false);
        var row = Report.row("resnet50", 1, 2, new Harness.Timing("skipjack", 5, 1, new double[] {50}), 4, 200,
                new Ratio(0.9, 0.85, 0.95), 1e-5);
        Map<String, Object> r = Bench.record(OffsetDateTime.of(2025, 3, 4, 5, 6, 7, 8, ZoneOffset.ofHours(2)),
                machine, o, "resnet50", 1000, Map.of("skipjack", 12.0), "1.29.0", new PeakFlops.Result(200, 2, 8),
                List.of(row), true, new Harness.Settling(124, 3, 17.5));
        String line = Json.write(r);
        assertFalse(line.contains("\n"));
        assertTrue(line.startsWith("{\"schema\":\"skipjack-bench/1\",\"date\":\"2025-03-04T03:06:07Z\","
                + "\"git\":{\"commit\":\"0123456789abcdef0123456789abcdef01234567\",\"dirty\":false},"
                + "\"machine\":{\"cores\":2,\"cpu\":\"AMD EPYC\",\"cpu_flags\":[\"avx2\",\"fma\"],"
                + "\"os\":\"Linux 6.1\"},\"jdk\":\"25.0.1 (OpenJDK)\",\"params\":{\"model\":\"resnet50\","
                + "\"model_file\":\"m.skj\",\"seeded\":false,\"seed\":42,\"num_classes\":1000,"
                + "\"onnx_file\":\"m.onnx\",\"onnxruntime_version\":\"1.29.0\",\"batches\":[1,8],\"threads\":2,"
                + "\"height\":8,\"width\":6,\"warmup\":\"10 rounds\",\"iterations\":\"30 rounds\",\"settle_ms\":30,\"settle_until_idle\":true,"
                + "\"settle_idle_waits\":3,\"settle_idle_wait_ms\":17.5,\"skipjack_wake_steering\":true},"
                + "\"fp32_peak\":{\"gflops\":200,\"threads\":2,\"vector_lanes\":8},"
                + "\"load_ms\":{\"skipjack\":12},\"results\":[{\"batch\":1,\"runtime\":\"skipjack\""), line);
    }
}
