package dev.skipjack.bench;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import dev.skipjack.engine.model.LayerProfile;

/**
 * {@code ./skipjack bench}: runs Skipjack (a seeded ResNet-50 by default, or a model file) and optionally ONNX
 * Runtime side by side, prints one table, and appends the run to a history file. See bench/README.md.
 */
public final class BenchCommand {
    /** Untimed runs of ONNX Runtime's profiled session before the profiled passes of --layers. */
    private static final int ORT_PROFILE_WARMUP = 10;

    private BenchCommand() {}

    /** The subcommand: returns the exit status (0 on success; usage errors throw with a one-line message). */
    public static int run(String[] args) throws Exception {
        return run(args, System.out, System.err);
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        if (args.length > 0 && args[0].equals("jmh")) {
            // The kernel benchmarks: everything after "jmh" is JMH's own command line.
            org.openjdk.jmh.Main.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return 0;
        }
        BenchOptions o = BenchOptions.parse(args, Runtime.getRuntime().availableProcessors());
        if (o.help()) {
            out.print(BenchOptions.USAGE);
            return 0;
        }
        MachineInfo machine = MachineInfo.detect();
        Progress progress = Progress.onStderr();
        OffsetDateTime date = OffsetDateTime.now();
        Map<String, Double> loadMs = new LinkedHashMap<>();
        String ortVersion = null;
        String model;
        int numClasses;
        List<Bench.BatchResult> results;
        List<LayerProfile.Entry> layers = null;
        List<OrtProfile.Node> ortNodes = null;
        boolean steered;
        Harness.Settling settling;

        progress.phase(o.model() == null ? "building a seeded " + o.arch() : "loading " + o.model());
        long t0 = System.nanoTime();
        try (SkipjackRunner skipjack = o.model() == null
                ? SkipjackRunner.seeded(o.arch(), o.seed(), o.threads(), o.profile())
                : SkipjackRunner.load(o.model(), o.threads(), o.profile())) {
            loadMs.put("skipjack", (System.nanoTime() - t0) / 1e6);
            if (o.profile() != null) {
                err.print(skipjack.dispatchPlan());
            }
            model = skipjack.arch();
            steered = skipjack.steersWorkers();
            numClasses = skipjack.numClasses();
            OrtRunner ort = null;
            try {
                if (o.onnx() != null) {
                    progress.phase("loading " + o.onnx() + " into ONNX Runtime");
                    t0 = System.nanoTime();
                    ort = OrtRunner.open(o.onnx(), o.threads());
                    loadMs.put("onnxruntime", (System.nanoTime() - t0) / 1e6);
                    ortVersion = ort.version();
                }
                Harness harness = Harness.real(progress, o.settleNanos());
                results = Bench.measureAll(o, skipjack, skipjack::flops, ort, harness);
                settling = harness.settling();
            } finally {
                if (ort != null) {
                    ort.close();
                }
            }
            if (o.layers()) {
                // After the comparison's ONNX Runtime session is closed: no threads of its own are left to
                // compete with Skipjack's layers while they are timed one by one.
                int n = o.batches().get(0);
                progress.phase("timing each layer inside whole passes at batch " + n);
                layers = skipjack.profileLayers(n, o.height(), o.width());
                if (o.onnx() != null) {
                    // In a session of its own: the profiler's bookkeeping slows every run of the one it is on.
                    progress.phase("timing each ONNX Runtime node (its profiler) at batch " + n);
                    try (Arena arena = Arena.ofShared()) {
                        ortNodes = OrtProfile.measure(o.onnx(), o.threads(),
                                Bench.seededInput(arena, n, o.height(), o.width(), o.seed()), n, o.height(),
                                o.width(), ORT_PROFILE_WARMUP, LayerProfile.PASSES);
                    }
                }
            }
        }
        // Last, so that the first calls above met a JVM that had compiled nothing yet.
        progress.phase("measuring this machine's FP32 peak on " + o.threads() + " threads");
        PeakFlops.Result peak = PeakFlops.measure(o.threads());
        progress.clear();

        List<Report.Row> rows = Bench.rows(model, o.threads(), results, peak.gflops());
        Map<String, Object> record = Bench.record(date, machine, o, model, numClasses, loadMs, ortVersion, peak,
                rows, steered, settling);
        String line = Json.write(record);
        if (o.json()) {
            out.println(line);
        } else {
            out.print(text(o, machine, model, loadMs, ortVersion, peak, results, rows, steered, settling));
            if (layers != null) {
                out.print(Report.layerTable(layers, peak.gflops(),
                        ortNodes == null ? null : OrtProfile.byModule(ortNodes)));
            }
        }
        out.flush();
        if (o.history() != null) {
            Bench.appendHistory(o.history(), line);
            err.println("skipjack bench: appended this run to " + o.history().toAbsolutePath().normalize());
        }
        return 0;
    }

    /** The human-readable report: a title, the table, and what the columns mean. */
    static String text(BenchOptions o, MachineInfo machine, String model, Map<String, Double> loadMs,
                       String ortVersion, PeakFlops.Result peak, List<Bench.BatchResult> results,
                       List<Report.Row> rows, boolean steered, Harness.Settling settling) {
        var sb = new StringBuilder();
        String weights = o.model() == null ? "seeded weights, seed " + o.seed() : o.model().toString();
        sb.append(String.format(Locale.ROOT, "%s (%s), input %dx%d, %d threads; %s, %d cores, JDK %s%n",
                model, weights, o.height(), o.width(), o.threads(), machine.cpuModel(), machine.cores(),
                machine.jdk()));
        if (o.threads() > 1) {
            sb.append(steered ? "Skipjack's parked workers are woken on a CPU other than the caller's\n"
                    : "Skipjack's parked workers are woken where Linux puts them (steering needs Linux and "
                            + "--enable-native-access=ALL-UNNAMED)\n");
        }
        if (o.onnx() != null) {
            sb.append("vs ONNX Runtime ").append(ortVersion).append(" on ").append(o.onnx())
                    .append(" (interleaved, same input, same threads)\n");
        }
        sb.append('\n').append(Report.table(rows)).append('\n');
        sb.append(String.format(Locale.ROOT,
                "FP32 peak, measured: %.1f GFLOP/s (FMA loop, %d lanes, %d threads). ms/img: median; p10-p90: "
                        + "spread over %d rounds.%n",
                peak.gflops(), peak.lanes(), peak.threads(), results.get(0).skipjack().samplesMs().length));
        if (o.onnx() != null) {
            sb.append("vs ORT: Skipjack time / ONNX Runtime time (below 1.00 Skipjack is faster); 95% CI: its "
                    + "bootstrap interval over the rounds (a round's two calls kept together). "
                    + "max|dlogit|: largest logit difference on the same input.\n");
        }
        List<String> firsts = new ArrayList<>();
        for (var e : loadMs.entrySet()) {
            double first = e.getKey().equals("skipjack") ? results.get(0).skipjack().firstCallMs()
                    : results.get(0).ort().firstCallMs();
            firsts.add(String.format(Locale.ROOT, "%s %s ms (load %s + first call %s)", e.getKey(),
                    Report.ms(e.getValue() + first), Report.ms(e.getValue()), Report.ms(first)));
        }
        sb.append("Time to first logits at batch ").append(results.get(0).batch()).append(": ")
                .append(String.join(", ", firsts)).append('\n');
        if (o.settleNanos() > 0) {
            sb.append(String.format(Locale.ROOT, "Before each call: a %s ms pause, then until the process's other "
                            + "threads were idle: %d of %d calls waited longer, %s ms in all.%n",
                    Report.trimNumber(o.settleNanos() / 1e6), settling.waits(), settling.calls(),
                    Report.ms(settling.waitMs())));
        }
        return sb.toString();
    }
}
