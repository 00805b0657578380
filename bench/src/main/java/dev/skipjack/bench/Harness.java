package dev.skipjack.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Runs the runtimes under test on one bound input and times them, interleaved: a round runs each runtime once,
 * and the order flips every round (A B, B A, A B, ...), so slow drifts of a shared machine (another job, the
 * clock, a noisy neighbour) land on both alike and neither always runs right after the other.
 *
 * <p>Before every timed call the harness pauses briefly (untimed). Both runtimes keep their worker threads
 * spinning for a while after a call so the next one starts fast; run back to back, the other runtime's
 * spinning workers hold cores the next call needs. On a 2-core machine a 0.5 ms two-thread job started right
 * after an ONNX Runtime call took a median of 5-6 ms instead of 0.5 ms; after a 1 ms pause, 0.55 ms. The pause
 * lets every pool go idle, so each call starts from the same state whichever runtime ran before it.
 *
 * <p>A fixed pause is not always enough: ONNX Runtime's workers spin for about 25-30 ms of CPU time after a call
 * (measured through the threads' {@code schedstat}), about the default pause, and longer in wall time when the
 * shared machine is slow. So after the pause the harness also waits, in windows of {@link #QUIET_WINDOW_NANOS},
 * until the process's other threads together use less than {@link #QUIET_CPU_NANOS} of CPU in a window (at most
 * {@link #MAX_QUIET_WAIT_NANOS} more; where the threads' CPU times cannot be read, the pause alone).
 */
final class Harness {
    /** Waits, untimed, between calls; tests substitute one that only moves a fake clock. */
    interface Sleeper {
        void sleep(long nanos) throws InterruptedException;
    }

    /**
     * Default pause before each timed call. With ResNet-50 interleaved on 2 cores, Skipjack's median after
     * ONNX Runtime's calls was 10-15% slower with a 5 ms pause than with 30 ms or 50 ms (alone it was the same
     * at 5 and 30 ms): ONNX Runtime's workers spin for more than 5 ms after a full network. 30 ms lets both
     * pools go idle; ONNX Runtime's own times did not change.
     */
    static final long DEFAULT_SETTLE_NANOS = 30_000_000L;
    /** The window in which the other threads' CPU use is measured after the pause. */
    static final long QUIET_WINDOW_NANOS = 5_000_000L;
    /** At most this much CPU time of the other threads in a window counts as idle (a spinning thread uses all). */
    static final long QUIET_CPU_NANOS = 1_000_000L;
    /** The most the harness waits for idle threads after the pause. */
    static final long MAX_QUIET_WAIT_NANOS = 200_000_000L;

    /** Cumulative CPU nanoseconds of the process's threads other than the caller's, or -1 where unknown. */
    interface OtherThreadsCpu {
        long nanos();
    }

    /**
     * The timings of one runtime at one batch size.
     *
     * @param runtime      the runner's name
     * @param firstCallMs  the very first call on this input, before any warm-up (includes JIT and planning)
     * @param warmupRounds warm-up calls that followed the first call
     * @param samplesMs    one wall-clock time per measured call, in milliseconds per batch
     */
    record Timing(String runtime, double firstCallMs, int warmupRounds, double[] samplesMs) {}

    private final LongSupplier clock;
    private final Progress progress;
    private final long settleNanos;
    private final Sleeper sleeper;
    private final OtherThreadsCpu otherCpu;
    private long quietWaitNanos; // waited after the pauses, in all
    private int quietWaits; // calls that waited after their pause
    private int calls; // timed calls

    /**
     * @param settleNanos pause before each timed call (0: back to back, no wait for idle threads either)
     * @param otherCpu    the other threads' CPU time, to wait for them to go idle after the pause
     */
    Harness(LongSupplier clock, Progress progress, long settleNanos, Sleeper sleeper, OtherThreadsCpu otherCpu) {
        this.clock = clock;
        this.progress = progress;
        this.settleNanos = settleNanos;
        this.sleeper = sleeper;
        this.otherCpu = otherCpu;
    }

    /** Pauses only (no wait for idle threads). */
    Harness(LongSupplier clock, Progress progress, long settleNanos, Sleeper sleeper) {
        this(clock, progress, settleNanos, sleeper, () -> -1);
    }

    /** On the real clock, with the threads' CPU times from {@link ThreadCpu}. */
    static Harness real(Progress progress, long settleNanos) {
        return new Harness(System::nanoTime, progress, settleNanos,
                nanos -> Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000)), ThreadCpu::othersNanos);
    }

    /**
     * How the pauses went so far.
     *
     * @param calls  timed calls (first calls, warm-up and measurement) so far
     * @param waits  calls that, after their pause, waited for other threads to go idle
     * @param waitMs milliseconds waited so in all
     */
    record Settling(int calls, int waits, double waitMs) {}

    /** How the pauses went so far. */
    Settling settling() {
        return new Settling(calls, quietWaits, quietWaitNanos / 1e6);
    }

    /**
     * Times every runner (already bound to the same input) through first call, warm-up and measurement.
     *
     * @param label a prefix for the progress line, e.g. "batch 8"
     * @return one {@link Timing} per runner, in the order given
     */
    List<Timing> measure(List<? extends Runner> runners, String label, Budget warmup, Budget measure)
            throws Exception {
        int k = runners.size();
        double[] first = new double[k];
        for (int r = 0; r < k; r++) {
            progress.phase(label + ": first call, " + runners.get(r).name());
            first[r] = timeOne(runners.get(r));
        }

        progress.phase(label + ": warming up (" + warmup.describe() + ")");
        int warmRounds = runRounds(runners, warmup, null);

        progress.phase(label + ": measuring (" + measure.describe() + ")");
        List<List<Double>> samples = new ArrayList<>();
        for (int r = 0; r < k; r++) {
            samples.add(new ArrayList<>());
        }
        runRounds(runners, measure, samples);

        List<Timing> out = new ArrayList<>();
        for (int r = 0; r < k; r++) {
            double[] s = samples.get(r).stream().mapToDouble(Double::doubleValue).toArray();
            out.add(new Timing(runners.get(r).name(), first[r], warmRounds, s));
        }
        return out;
    }

    /** Runs rounds until the budget is spent; records each call's milliseconds when {@code samples} is given. */
    private int runRounds(List<? extends Runner> runners, Budget budget, List<List<Double>> samples)
            throws Exception {
        int k = runners.size();
        long start = clock.getAsLong();
        int done = 0;
        while (!budget.isSpent(done, clock.getAsLong() - start)) {
            for (int i = 0; i < k; i++) {
                int r = (done % 2 == 0) ? i : k - 1 - i;
                double ms = timeOne(runners.get(r));
                if (samples != null) {
                    samples.get(r).add(ms);
                }
            }
            done++;
            progress.step(budget.isTimed()
                    ? String.format("%.1f/%s", (clock.getAsLong() - start) / 1e9, budget.describe())
                    : done + "/" + budget.rounds());
        }
        return done;
    }

    private double timeOne(Runner runner) throws Exception {
        calls++;
        if (settleNanos > 0) {
            sleeper.sleep(settleNanos);
            awaitQuiet();
        }
        long t0 = clock.getAsLong();
        runner.run();
        return (clock.getAsLong() - t0) / 1e6;
    }

    /** Waits (untimed) until the other threads use less than QUIET_CPU_NANOS in a window, at most MAX_QUIET_WAIT_NANOS. */
    private void awaitQuiet() throws InterruptedException {
        long before = otherCpu.nanos();
        if (before < 0) {
            return;
        }
        long waited = 0; // windows past the first, which every call spends
        for (;;) {
            sleeper.sleep(QUIET_WINDOW_NANOS);
            long now = otherCpu.nanos();
            if (now < 0 || now - before < QUIET_CPU_NANOS) {
                break;
            }
            waited += QUIET_WINDOW_NANOS;
            if (waited >= MAX_QUIET_WAIT_NANOS) {
                break;
            }
            before = now;
        }
        if (waited > 0) {
            quietWaits++;
            quietWaitNanos += waited;
        }
    }
}
