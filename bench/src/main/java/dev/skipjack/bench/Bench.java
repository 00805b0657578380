package dev.skipjack.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The measurement itself, independent of where the runtimes come from: for each batch size, one seeded
 * input shared by both runtimes, interleaved timing, and the logit comparison. {@link BenchCommand} opens the
 * real runtimes and prints; tests drive this class with scripted runtimes and a scripted clock.
 */
final class Bench {
    private Bench() {}

    /** Direct-convolution FLOPs of one forward at a shape. */
    interface Flops {
        long of(int n, int h, int w);
    }

    /**
     * What was measured at one batch size.
     *
     * @param batch        images per call
     * @param flops        direct-convolution FLOPs of one call
     * @param skipjack     Skipjack's timings
     * @param ort          ONNX Runtime's timings, or null when it was not run
     * @param maxLogitDiff max |Skipjack logit - ONNX Runtime logit| on the same input, or null
     */
    record BatchResult(int batch, long flops, Harness.Timing skipjack, Harness.Timing ort, Double maxLogitDiff) {}

    /**
     * Measures every batch size of {@code o}. {@code ort} may be null. Both runners must predict the same
     * number of classes.
     */
    static List<BatchResult> measureAll(BenchOptions o, Runner skipjack, Flops flops, Runner ort, Harness harness)
            throws Exception {
        if (ort != null && ort.numClasses() != skipjack.numClasses()) {
            throw new IllegalArgumentException("the Skipjack model predicts " + skipjack.numClasses()
                    + " classes but the ONNX model " + o.onnx() + " predicts " + ort.numClasses()
                    + ": they are not the same network");
        }
        List<Runner> runners = ort == null ? List.of(skipjack) : List.of(skipjack, ort);
        List<BatchResult> results = new ArrayList<>();
        // Shared: the engine's worker threads and ONNX Runtime's threads read the input.
        try (Arena arena = Arena.ofShared()) {
            for (int n : o.batches()) {
                MemorySegment input = seededInput(arena, n, o.height(), o.width(), o.seed());
                for (Runner r : runners) {
                    r.bind(input, n, o.height(), o.width());
                }
                List<Harness.Timing> t = harness.measure(runners, "batch " + n, o.warmup(), o.measure());
                Double diff = ort == null ? null : Report.maxAbsDiff(skipjack.logits(), ort.logits());
                results.add(new BatchResult(n, flops.of(n, o.height(), o.width()), t.get(0),
                        ort == null ? null : t.get(1), diff));
            }
        }
        return results;
    }

    /**
     * A float32 [n][3][h][w] input of standard normal values (what a normalized image looks like to the first
     * convolution), the same for a given seed, 64-byte aligned.
     */
    static MemorySegment seededInput(Arena arena, int n, int h, int w, long seed) {
        long count = (long) n * 3 * h * w;
        MemorySegment seg = arena.allocate(4 * count, 64);
        var rnd = new SplittableRandom(seed);
        for (long i = 0; i < count; i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
        }
        return seg;
    }

    /** The table's rows: per batch, Skipjack then ONNX Runtime. */
    static List<Report.Row> rows(String model, int threads, List<BatchResult> results, double peakGflops) {
        List<Report.Row> rows = new ArrayList<>();
        for (BatchResult b : results) {
            Ratio ratio = b.ort() == null ? null : Report.ratio(b.skipjack(), b.ort());
            rows.add(Report.row(model, b.batch(), threads, b.skipjack(), b.flops(), peakGflops, ratio,
                    b.maxLogitDiff()));
            if (b.ort() != null) {
                rows.add(Report.row(model, b.batch(), threads, b.ort(), b.flops(), peakGflops, null, null));
            }
        }
        return rows;
    }

    /**
     * Everything about one run, for {@code --json} and the history: when, which source revision, which
     * machine and JDK, every parameter and every result.
     */
    static Map<String, Object> record(OffsetDateTime date, MachineInfo machine, BenchOptions o, String model,
                                      int numClasses, Map<String, Double> loadMs, String ortVersion,
                                      PeakFlops.Result peak, List<Report.Row> rows, boolean steered,
                                      Harness.Settling settling) {
        var r = new LinkedHashMap<String, Object>();
        r.put("schema", "skipjack-bench/1");
        r.put("date", date.withOffsetSameInstant(ZoneOffset.UTC).truncatedTo(ChronoUnit.SECONDS)
                .format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
        var git = new LinkedHashMap<String, Object>();
        git.put("commit", machine.git());
        git.put("dirty", machine.gitDirty());
        r.put("git", machine.git() == null ? null : git);
        r.put("machine", machine.toJson());
        r.put("jdk", machine.jdk());
        var p = new LinkedHashMap<String, Object>();
        p.put("model", model);
        p.put("model_file", o.model() == null ? null : o.model().toString());
        p.put("seeded", o.model() == null);
        p.put("seed", o.seed());
        p.put("num_classes", numClasses);
        p.put("onnx_file", o.onnx() == null ? null : o.onnx().toString());
        p.put("onnxruntime_version", ortVersion);
        p.put("batches", o.batches());
        p.put("threads", o.threads());
        p.put("height", o.height());
        p.put("width", o.width());
        p.put("warmup", o.warmup().describe());
        p.put("iterations", o.measure().describe());
        p.put("settle_ms", o.settleNanos() / 1e6);
        p.put("settle_until_idle", o.settleNanos() > 0);
        p.put("settle_idle_waits", settling.waits());
        p.put("settle_idle_wait_ms", settling.waitMs());
        p.put("skipjack_wake_steering", steered);
        r.put("params", p);
        var pk = new LinkedHashMap<String, Object>();
        pk.put("gflops", peak.gflops());
        pk.put("threads", peak.threads());
        pk.put("vector_lanes", peak.lanes());
        r.put("fp32_peak", pk);
        r.put("load_ms", loadMs);
        r.put("results", Report.rowsJson(rows));
        return r;
    }

    /** Appends {@code line} and a newline to {@code file} in one write, creating its folders if needed. */
    static void appendHistory(Path file, String line) throws IOException {
        if (line.indexOf('\n') >= 0) {
            throw new IllegalArgumentException("a history entry must be one line");
        }
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.write(file, (line + "\n").getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE,
                StandardOpenOption.APPEND, StandardOpenOption.WRITE);
    }
}
