package dev.skipjack.bench.kernels;

import dev.skipjack.bench.PeakFlops;

/**
 * The machine's single-core FP32 peak as the JIT can reach it, timed in short windows on {@link Clock}: the
 * loop is the bench's own ({@link PeakFlops#fmaChains}: independent FMA chains on registers only), so the
 * kernel probes and {@code ./skipjack bench} measure the same ceiling.
 */
public final class PeakLoop {
    private PeakLoop() {
    }

    /**
     * Measures the peak in GFLOP/s: the best of {@code windows} windows of about 5 ms each, after a warm-up.
     * The best window is the one least disturbed by other processes on a shared machine.
     */
    public static double measure(int windows) {
        float sink = 0;
        for (int i = 0; i < 30; i++) {
            sink += PeakFlops.fmaChains(100_000);
        }
        int iters = 50_000;
        double best = 0;
        for (int wdw = 0; wdw < windows; wdw++) {
            long flops = 0, start = Clock.now(), now;
            do {
                sink += PeakFlops.fmaChains(iters);
                flops += (long) PeakFlops.flopsPerCall(iters);
            } while ((now = Clock.now()) - start < 5_000_000L);
            best = Math.max(best, flops / (double) (now - start));
        }
        if (sink == 42) {
            System.out.print("");
        }
        return best;
    }
}
