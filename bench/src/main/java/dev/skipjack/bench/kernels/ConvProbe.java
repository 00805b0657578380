package dev.skipjack.bench.kernels;

import dev.skipjack.engine.kernels.ConvKernel;
import dev.skipjack.engine.kernels.Kernels;
import dev.skipjack.engine.kernels.Simd;
import dev.skipjack.engine.model.Network;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/**
 * A quick look, without JMH, at every ResNet-50 convolution as a percentage of the FMA peak measured in the
 * same process: {@code java --add-modules jdk.incubator.vector -cp ... dev.skipjack.bench.kernels.ConvProbe
 * [threads] [millisPerShape] [shapeName...]}. For numbers to quote, use the JMH benchmarks
 * ({@link ConvBenchmark}); this is for fast iteration.
 */
public final class ConvProbe {
    /** {@code -Dskipjack.probe.gemm=true}: each convolution's GEMM alone ({@link ResNet50Convs.Conv#gemm}). */
    private static final boolean GEMM = Boolean.getBoolean("skipjack.probe.gemm");

    private ConvProbe() {
    }

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        int millis = args.length > 1 ? Integer.parseInt(args[1]) : 400;
        java.util.List<String> only = args.length > 2 ? java.util.List.of(args).subList(2, args.length) : null;
        System.out.printf("species %d bits, %d thread(s), timed by %s%n", Simd.LANES * 32, threads,
                threads == 1 ? Clock.name() : "wall time");
        double peak0 = PeakLoop.measure(25);
        System.out.printf("peak (1 core) %.1f GFLOP/s%n", peak0);
        long tw = System.nanoTime();
        try (Parallel par = new Parallel(threads); Arena arena = Arena.ofShared()) {
            System.out.println("warm-up reached compiled speed: " + Kernels.warmUp(par));
            System.out.printf("Kernels.warmUp: %.0f ms%n", (System.nanoTime() - tw) / 1e6);
            java.util.List<ResNet50Convs.Conv> convs = new java.util.ArrayList<>();
            for (ResNet50Convs.Conv c : ResNet50Convs.ALL) {
                if (only == null || only.contains(c.name())) {
                    convs.add(GEMM ? c.gemm() : c);
                }
            }
            int m = convs.size();
            Setup[] setups = new Setup[m];
            double[] best = new double[m];
            java.util.Arrays.fill(best, Double.MAX_VALUE);
            for (int i = 0; i < m; i++) {
                setups[i] = new Setup(convs.get(i), threads, arena);
            }
            // Rounds over all shapes, keeping each shape's fastest call: a burst of interference from other
            // processes then spoils one round of one shape, not the result.
            int rounds = 4;
            for (int round = 0; round < rounds; round++) {
                for (int i = 0; i < m; i++) {
                    Setup st = setups[i];
                    long stop = System.nanoTime() + millis * 1_000_000L / rounds;
                    for (int calls = 0; calls < 3 || System.nanoTime() < stop; calls++) {
                        long t0 = threads == 1 ? Clock.now() : System.nanoTime();
                        st.run(par);
                        best[i] = Math.min(best[i], (threads == 1 ? Clock.now() : System.nanoTime()) - t0);
                    }
                    peak0 = Math.max(peak0, PeakLoop.measure(4));
                }
            }
            double totalFlops = 0, totalTime = 0;
            for (int i = 0; i < m; i++) {
                ResNet50Convs.Conv c = convs.get(i);
                long flops = c.flops(1);
                double gf = flops / best[i];
                totalFlops += flops * (double) c.count();
                totalTime += best[i] * c.count();
                System.out.printf("%-22s %-14s %8.3f ms %7.1f GFLOP/s %5.1f%% of peak  x%d%n", c.name(),
                        setups[i].conv.algorithm(), best[i] / 1e6, gf, 100 * gf / (peak0 * threads), c.count());
            }
            System.out.printf("all convs (weighted by occurrence): %.2f ms, %.1f GFLOP/s, %.1f%% of peak %.1f GFLOP/s"
                    + " x %d thread(s)%n", totalTime / 1e6, totalFlops / totalTime,
                    100 * totalFlops / totalTime / (peak0 * threads), peak0, threads);
        }
    }

    /**
     * One convolution with random weights and input, ready to run, on the kernel a channels-last network runs
     * for its shape ({@link Network#kernelFor}): the stem (3 input channels) reads NCHW and writes channels-last,
     * every other shape is channels-last in and out, so a 3x3 stride-1 may be a Winograd kernel.
     */
    static final class Setup {
        final ResNet50Convs.Conv c;
        final ConvKernel conv;
        // in and out in the kernel's layouts; weight [cout][cin][k][k], bias [cout]
        final MemorySegment in, out, weight, bias, scratch;

        Setup(ResNet50Convs.Conv c, int threads, Arena arena) {
            this.c = c;
            Random rnd = new Random(1);
            var s = c.shape();
            Network.Layouts layouts = s.cin() == 3 ? Network.Layouts.NCHW_TO_NHWC : Network.Layouts.NHWC;
            // channels-last values end in one pixel of zeros (ConvNhwc's padding taps read it); NCHW needs none
            long pixels = (long) c.h() * c.w();
            in = fill(arena.allocate((pixels + 1) * s.cin() * 4, 64), pixels * s.cin(), rnd);
            out = arena.allocate(((long) s.outH(c.h()) * s.outW(c.w()) + 1) * s.cout() * 4, 64);
            weight = fill(arena, (long) s.cout() * s.gemmK(), rnd);
            bias = fill(arena, s.cout(), rnd);
            conv = Network.kernelFor(s, layouts, weight, bias, arena);
            scratch = arena.allocate(Math.max(64, conv.scratchBytes(1, c.h(), c.w(), threads)), 64);
        }

        void run(Parallel par) {
            conv.forward(in, out, null, true, 1, c.h(), c.w(), scratch, par);
        }
    }

    static MemorySegment fill(Arena arena, long count, Random rnd) {
        return fill(arena.allocate(count * 4, 64), count, rnd);
    }

    /** The first {@code count} floats of {@code s} uniform in [-0.5, 0.5); returns s. */
    static MemorySegment fill(MemorySegment s, long count, Random rnd) {
        for (long i = 0; i < count; i++) {
            s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4, rnd.nextFloat() - 0.5f);
        }
        return s;
    }
}
