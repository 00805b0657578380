package dev.skipjack.bench;

import dev.skipjack.engine.kernels.Simd;
import java.util.concurrent.CountDownLatch;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures this machine's FP32 peak: {@code threads} threads each run a loop of nothing but independent vector
 * fused multiply-adds held in registers, so no memory traffic limits it. The result is the ceiling the
 * bench's "percent of peak" is relative to; it is measured rather than looked up because the same CPU model
 * runs at different clocks in different machines (and a shared VM gets what the host gives it).
 */
public final class PeakFlops {
    /** The species the engine's kernels use, so the peak is for the vector width they can reach. */
    static final VectorSpecies<Float> SPECIES = Simd.FLOAT;
    /**
     * Independent FMA chains per thread. x86 cores since Haswell retire two FMAs per cycle with a latency of
     * 4-5 cycles, so at least 10 chains must be in flight to fill both pipes; 12 chains plus the two constant
     * operands still fit AVX2's 16 vector registers, so nothing spills.
     */
    static final int CHAINS = 12;
    /** Best of this many timed repetitions: the peak is a maximum, and the best run saw the least noise. */
    private static final int REPETITIONS = 5;
    /** Wall time of one repetition: long enough to hide thread start-up, short enough to keep the bench quick. */
    private static final long REPETITION_NANOS = 100_000_000L;

    /** Sink for the loop results so the JIT cannot drop the arithmetic as dead code. */
    private static volatile float sink;

    /**
     * @param gflops  the best sustained rate over all threads, in 10^9 floating-point operations per second
     *                (one FMA counts as two)
     * @param threads threads that ran the loop at once
     * @param lanes   float lanes per vector
     */
    public record Result(double gflops, int threads, int lanes) {}

    private PeakFlops() {}

    /** Warms the loop up, then measures the peak on {@code threads} threads; takes about a second. */
    public static Result measure(int threads) throws InterruptedException {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        // The first calls are interpreted; enough short calls make C2 compile the loop before it is timed.
        float s = 0;
        for (int i = 0; i < 2000; i++) {
            s += fmaChains(2000);
        }
        long t0 = System.nanoTime();
        s += fmaChains(1_000_000);
        double nanosPerIteration = Math.max(1e-3, (System.nanoTime() - t0) / 1e6);
        sink = s;
        int iterations = (int) Math.min(Integer.MAX_VALUE, Math.max(1000, REPETITION_NANOS / nanosPerIteration));

        double best = 0;
        for (int r = 0; r < REPETITIONS; r++) {
            long nanos = timeOnThreads(threads, iterations);
            double flops = flopsPerCall(iterations) * threads;
            best = Math.max(best, flops / nanos);
        }
        return new Result(best, threads, SPECIES.length());
    }

    /** Starts {@code threads} threads, releases them together, and returns the wall time until all finish. */
    private static long timeOnThreads(int threads, int iterations) throws InterruptedException {
        var ready = new CountDownLatch(threads);
        var go = new CountDownLatch(1);
        Thread[] workers = new Thread[threads];
        float[] results = new float[threads];
        for (int t = 0; t < threads; t++) {
            int id = t;
            workers[t] = Thread.ofPlatform().name("skipjack-peak-" + t).daemon().start(() -> {
                ready.countDown();
                try {
                    go.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                results[id] = fmaChains(iterations);
            });
        }
        ready.await();
        long start = System.nanoTime();
        go.countDown();
        for (Thread w : workers) {
            w.join();
        }
        long nanos = System.nanoTime() - start;
        float s = 0;
        for (float r : results) {
            s += r;
        }
        sink = s;
        return nanos;
    }

    /** Floating-point operations of one {@link #fmaChains} call (an FMA counts as two). */
    public static double flopsPerCall(int iterations) {
        return (double) iterations * CHAINS * SPECIES.length() * 2;
    }

    /**
     * {@link #CHAINS} independent chains c = a * b + c. The chain's value is the FMA's addend, as the kernels'
     * accumulators are: x86's FMA overwrites one of its three sources, and with the accumulator there C2 emits one
     * {@code vfmadd231ps} per FMA. Written c = c * a + b (b the addend, kept for the next FMA), C2 copied b into a
     * fresh register before every FMA, twice the instructions, and the loop fell short of what the kernels reach: on
     * one core of the Ice Lake Xeon (AVX-512) 128-142 GFLOP/s where this form and {@code ConvNhwc.kernel6x4} in L1
     * ran at 150-165; two threads 199-232 against 310 for the kernel on both cores.
     *
     * <p>a * b = 2^-21 exactly, so each step adds one exact increment: a chain started at c0 holds c0 + n 2^-21
     * after n steps (up to rounding of c0's low bits) and stays normal. It stops at 8, where the increment is half a unit in
     * the last place and rounds to even: no overflow however long it runs.
     */
    public static float fmaChains(int iterations) {
        FloatVector a = FloatVector.broadcast(SPECIES, 0.5f);
        FloatVector b = FloatVector.broadcast(SPECIES, 0x1p-20f);
        FloatVector c0 = FloatVector.broadcast(SPECIES, 0.01f);
        FloatVector c1 = FloatVector.broadcast(SPECIES, 0.02f);
        FloatVector c2 = FloatVector.broadcast(SPECIES, 0.03f);
        FloatVector c3 = FloatVector.broadcast(SPECIES, 0.04f);
        FloatVector c4 = FloatVector.broadcast(SPECIES, 0.05f);
        FloatVector c5 = FloatVector.broadcast(SPECIES, 0.06f);
        FloatVector c6 = FloatVector.broadcast(SPECIES, 0.07f);
        FloatVector c7 = FloatVector.broadcast(SPECIES, 0.08f);
        FloatVector c8 = FloatVector.broadcast(SPECIES, 0.09f);
        FloatVector c9 = FloatVector.broadcast(SPECIES, 0.10f);
        FloatVector c10 = FloatVector.broadcast(SPECIES, 0.11f);
        FloatVector c11 = FloatVector.broadcast(SPECIES, 0.12f);
        for (int i = 0; i < iterations; i++) {
            c0 = a.fma(b, c0);
            c1 = a.fma(b, c1);
            c2 = a.fma(b, c2);
            c3 = a.fma(b, c3);
            c4 = a.fma(b, c4);
            c5 = a.fma(b, c5);
            c6 = a.fma(b, c6);
            c7 = a.fma(b, c7);
            c8 = a.fma(b, c8);
            c9 = a.fma(b, c9);
            c10 = a.fma(b, c10);
            c11 = a.fma(b, c11);
        }
        FloatVector sum = c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10)
                .add(c11);
        return sum.reduceLanes(VectorOperators.ADD);
    }
}
