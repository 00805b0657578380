package dev.skipjack.bench;

import dev.skipjack.engine.backend.DispatchProfile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The options of {@code ./skipjack bench}, parsed and checked before anything runs.
 *
 * @param model    a Skipjack model file to run, or null for a seeded model built in memory
 * @param arch     the architecture of the seeded model ("resnet50", ...); ignored with a model file
 * @param seed     seed of the seeded weights and of the input
 * @param onnx     an ONNX file to run side by side with ONNX Runtime, or null
 * @param batches  batch sizes to measure, in order
 * @param threads  threads for each runtime and for the peak measurement
 * @param height   input height
 * @param width    input width
 * @param warmup   warm-up after the first call, per batch size
 * @param measure  measured rounds, per batch size
 * @param settleNanos untimed pause before each call, so the other runtime's threads are idle (see Harness)
 * @param json     print the run as JSON on stdout instead of the table
 * @param history  the file each run appends one JSON line to, or null for none
 * @param help     only print the usage
 * @param profile  where each layer runs (docs/GPU.md), or null for the default (every layer on the CPU)
 * @param layers   also time every layer inside whole passes (at the first batch size) and print where the time goes
 */
public record BenchOptions(Path model, String arch, long seed, Path onnx, List<Integer> batches, int threads,
                           int height, int width, Budget warmup, Budget measure, long settleNanos, boolean json,
                           Path history, boolean help, DispatchProfile profile, boolean layers) {
    public static final String DEFAULT_ARCH = "resnet50";
    public static final long DEFAULT_SEED = 42;
    public static final Budget DEFAULT_WARMUP = Budget.ofRounds(10);
    public static final Budget DEFAULT_MEASURE = Budget.ofRounds(30);
    /** Relative to the working directory; in a Skipjack checkout it is git-ignored. */
    public static final Path DEFAULT_HISTORY = Path.of("bench", "history-local", "history.jsonl");
    private static final int MAX_SIDE = 8192;

    public BenchOptions {
        batches = List.copyOf(batches);
    }

    static final String USAGE = """
            usage: ./skipjack bench [OPTIONS]
                   ./skipjack bench jmh [JMH OPTIONS]   (kernel benchmarks, e.g. ConvBenchmark; see bench/README.md)

            Measures Skipjack's inference speed; with --onnx, side by side with ONNX Runtime in one process.
            Without --model it runs a ResNet-50 with seeded random weights built in memory.

              --model FILE        run this Skipjack model file instead of the seeded model
              --arch NAME         architecture of the seeded model (default resnet50; resnet18, resnet34,
                                  resnet101, resnet152, resnext50_32x4d, wide_resnet50_2)
              --seed N            seed of the seeded weights and of the input (default 42)
              --onnx FILE         also run ONNX Runtime on FILE, interleaved with Skipjack, and compare
                                  logits; needs --model converted from the same checkpoint
              --batch N[,N...]    batch sizes (default 1), e.g. --batch 1,8
              --threads T         threads for both runtimes (default: all %d cores)
              --size HxW          input height x width (default 224x224; --size 256 means 256x256)
              --warmup N|TIME     warm-up rounds after the first call (default 10), or a time like 5s
              --iterations N|TIME measured rounds (default 30), or a time like 20s (at least %d rounds)
              --settle MS         untimed pause before each call, then until the process's other threads
                                  are idle (at most 200 ms more) (default %s ms; 0 runs calls back to back)
              --profile P         where each layer runs: cpu (default), gpu, auto, or a profile file
                                  (docs/GPU.md); the plan is printed on stderr
              --layers            also time each layer inside whole passes (first batch size) and print a
                                  table of where the time goes: ms, GFLOP/s and %% of peak per layer; with
                                  --onnx, ONNX Runtime's time for the same layer (its profiler) beside it
              --json              print the results as JSON on stdout instead of the table
              --history FILE      append one JSON line per run to FILE (default bench/history-local/history.jsonl
                                  under the working directory); --history none turns it off
              -h, --help          this text
            """.formatted(Runtime.getRuntime().availableProcessors(), Budget.MIN_MEASURED_ROUNDS,
                    Report.trimNumber(Harness.DEFAULT_SETTLE_NANOS / 1e6));

    /**
     * Parses the command line ({@code --opt value} or {@code --opt=value}).
     *
     * @throws IllegalArgumentException with a one-line message naming the option at fault
     */
    public static BenchOptions parse(String[] args, int availableCores) {
        Path model = null;
        String arch = null;
        long seed = DEFAULT_SEED;
        Path onnx = null;
        List<Integer> batches = List.of(1);
        int threads = availableCores;
        int height = 224;
        int width = 224;
        Budget warmup = DEFAULT_WARMUP;
        Budget measure = DEFAULT_MEASURE;
        long settle = Harness.DEFAULT_SETTLE_NANOS;
        boolean json = false;
        Path history = DEFAULT_HISTORY;
        DispatchProfile profile = null;
        boolean layers = false;

        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String name = a;
            String inline = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                name = a.substring(0, eq);
                inline = a.substring(eq + 1);
            }
            switch (name) {
                case "-h", "--help" -> {
                    return new BenchOptions(model, DEFAULT_ARCH, seed, onnx, batches, threads, height, width,
                            warmup, measure, settle, json, history, true, profile, false);
                }
                case "--json" -> json = true;
                case "--layers" -> layers = true;
                case "--model", "--arch", "--seed", "--onnx", "--batch", "--threads", "--size", "--warmup",
                     "--iterations", "--settle", "--history", "--profile" -> {
                    String v;
                    if (inline != null) {
                        v = inline;
                    } else if (i + 1 < args.length) {
                        v = args[++i];
                    } else {
                        throw new IllegalArgumentException(name + " needs a value (see ./skipjack bench --help)");
                    }
                    if (v.isEmpty()) {
                        throw new IllegalArgumentException(name + " needs a non-empty value");
                    }
                    switch (name) {
                        case "--model" -> model = Path.of(v);
                        case "--arch" -> arch = v;
                        case "--seed" -> seed = parseLong(name, v);
                        case "--onnx" -> onnx = Path.of(v);
                        case "--batch" -> batches = parseBatches(v);
                        case "--threads" -> threads = parseInt(name, v, 1, 4096);
                        case "--size" -> {
                            int x = v.toLowerCase().indexOf('x');
                            if (x < 0) {
                                height = width = parseInt(name, v, 1, MAX_SIDE);
                            } else {
                                height = parseInt(name, v.substring(0, x), 1, MAX_SIDE);
                                width = parseInt(name, v.substring(x + 1), 1, MAX_SIDE);
                            }
                        }
                        case "--warmup" -> warmup = Budget.parse(name, v, true, 0);
                        case "--iterations" -> measure = Budget.parse(name, v, false, Budget.MIN_MEASURED_ROUNDS);
                        case "--settle" -> settle = parseMillis(name, v);
                        case "--history" -> history = v.equals("none") ? null : Path.of(v);
                        case "--profile" -> profile = parseProfile(v);
                        default -> throw new AssertionError(name);
                    }
                }
                default -> throw new IllegalArgumentException("unknown option '" + a + "' (see ./skipjack bench --help)");
            }
        }
        if (model != null && arch != null) {
            throw new IllegalArgumentException("--arch picks the seeded model; it cannot be combined with --model");
        }
        if (onnx != null && model == null) {
            throw new IllegalArgumentException("--onnx needs --model FILE with the same weights (convert the "
                    + "checkpoint the ONNX file was exported from with ./skipjack convert); the seeded model's "
                    + "random weights would make the logit comparison meaningless");
        }
        return new BenchOptions(model, arch == null ? DEFAULT_ARCH : arch, seed, onnx, batches, threads, height,
                width, warmup, measure, settle, json, history, false, profile, layers);
    }

    private static DispatchProfile parseProfile(String v) {
        try {
            return DispatchProfile.of(v);
        } catch (IOException e) {
            throw new IllegalArgumentException("--profile " + v + ": cannot read it: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--profile: " + e.getMessage(), e);
        }
    }

    private static List<Integer> parseBatches(String v) {
        List<Integer> out = new ArrayList<>();
        for (String part : v.split(",", -1)) {
            int b = parseInt("--batch", part.strip(), 1, 4096);
            if (out.contains(b)) {
                throw new IllegalArgumentException("--batch lists " + b + " twice");
            }
            out.add(b);
        }
        return out;
    }

    private static int parseInt(String option, String v, int min, int max) {
        try {
            int n = Integer.parseInt(v.strip());
            if (n < min || n > max) {
                throw new IllegalArgumentException(option + " must be between " + min + " and " + max + "; got " + v);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " takes a whole number; got '" + v + "'");
        }
    }

    private static long parseMillis(String option, String v) {
        try {
            double ms = Double.parseDouble(v.strip());
            if (!(ms >= 0) || ms > 10_000) {
                throw new IllegalArgumentException(option + " must be between 0 and 10000 ms; got " + v);
            }
            return Math.round(ms * 1e6);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " takes milliseconds, e.g. 5 or 0.5; got '" + v + "'");
        }
    }

    private static long parseLong(String option, String v) {
        try {
            return Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " takes a whole number; got '" + v + "'");
        }
    }
}
