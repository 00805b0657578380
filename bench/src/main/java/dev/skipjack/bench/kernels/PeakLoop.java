package dev.skipjack.bench.kernels;

import dev.skipjack.engine.kernels.Simd;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The machine's single-core FP32 peak as the JIT can reach it: independent FMA chains on registers only, no
 * memory traffic. Ten chains cover the FMA latency times the issue width (4 cycles x 2 pipes on current
 * x86 cores) and leave room for the two operands in AVX2's 16 registers.
 */
public final class PeakLoop {
    private static final VectorSpecies<Float> S = Simd.FLOAT;

    private PeakLoop() {
    }

    /** Floating-point operations one {@link #run} performs. */
    public static long flops(int iterations) {
        return 2L * 10 * S.length() * iterations;
    }

    /** {@code iterations} steps of ten independent FMAs; returns a value that depends on all of them. */
    public static float run(int iterations, float seed) {
        FloatVector m = FloatVector.broadcast(S, 0.999999f), d = FloatVector.broadcast(S, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(S, seed), a1 = a0.add(1), a2 = a0.add(2), a3 = a0.add(3);
        FloatVector a4 = a0.add(4), a5 = a0.add(5), a6 = a0.add(6), a7 = a0.add(7), a8 = a0.add(8), a9 = a0.add(9);
        for (int i = 0; i < iterations; i++) {
            a0 = a0.fma(m, d);
            a1 = a1.fma(m, d);
            a2 = a2.fma(m, d);
            a3 = a3.fma(m, d);
            a4 = a4.fma(m, d);
            a5 = a5.fma(m, d);
            a6 = a6.fma(m, d);
            a7 = a7.fma(m, d);
            a8 = a8.fma(m, d);
            a9 = a9.fma(m, d);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9)
                .reduceLanes(VectorOperators.ADD);
    }

    /**
     * Measures the peak in GFLOP/s: the best of {@code windows} windows of about 5 ms each, after a warm-up.
     * The best window is the one least disturbed by other processes on a shared machine.
     */
    public static double measure(int windows) {
        float sink = 0;
        for (int i = 0; i < 30; i++) {
            sink += run(100_000, i);
        }
        int iters = 50_000;
        double best = 0;
        for (int wdw = 0; wdw < windows; wdw++) {
            long flops = 0, start = Clock.now(), now;
            do {
                sink += run(iters, sink * 1e-30f);
                flops += flops(iters);
            } while ((now = Clock.now()) - start < 5_000_000L);
            best = Math.max(best, flops / (double) (now - start));
        }
        if (sink == 42) {
            System.out.print("");
        }
        return best;
    }
}
