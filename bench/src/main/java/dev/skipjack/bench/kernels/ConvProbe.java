package dev.skipjack.bench.kernels;

import dev.skipjack.engine.kernels.Conv2d;
import dev.skipjack.engine.kernels.Simd;
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
        double totalFlops = 0, totalTime = 0, peakSum = 0;
        int shapes = 0;
        try (Parallel par = new Parallel(threads); Arena arena = Arena.ofShared()) {
            for (ResNet50Convs.Conv c : ResNet50Convs.ALL) {
                if (only != null && !only.contains(c.name())) {
                    continue;
                }
                Random rnd = new Random(1);
                var s = c.shape();
                MemorySegment in = fill(arena, (long) s.cin() * c.h() * c.w(), rnd);
                MemorySegment w = fill(arena, (long) s.cout() * s.gemmK(), rnd);
                MemorySegment b = fill(arena, s.cout(), rnd);
                MemorySegment out = arena.allocate((long) s.cout() * s.outH(c.h()) * s.outW(c.w()) * 4, 64);
                Conv2d conv = new Conv2d(s, w, b, arena);
                MemorySegment scratch = arena.allocate(conv.scratchBytes(1, c.h(), c.w(), threads), 64);
                long flops = c.flops(1);
                long end = System.nanoTime() + 1_000_000_000L;
                while (System.nanoTime() < end) {
                    conv.forward(in, out, null, true, 1, c.h(), c.w(), scratch, par);
                }
                // The fastest single call: on a shared machine the least disturbed one is the truest.
                double best = Double.MAX_VALUE;
                long stop = System.nanoTime() + millis * 1_000_000L;
                for (int calls = 0; calls < 5 || System.nanoTime() < stop; calls++) {
                    long t0 = threads == 1 ? Clock.now() : System.nanoTime();
                    conv.forward(in, out, null, true, 1, c.h(), c.w(), scratch, par);
                    best = Math.min(best, (threads == 1 ? Clock.now() : System.nanoTime()) - t0);
                }
                double peak = PeakLoop.measure(10);
                peakSum += peak;
                shapes++;
                peak0 = Math.max(peak0, peak);
                double gf = flops / best;
                totalFlops += flops * (double) c.count();
                totalTime += best * c.count();
                System.out.printf("%-22s %-7s %8.3f ms %7.1f GFLOP/s %5.1f%% of best peak so far (%5.1f; now %5.1f)  x%d%n",
                        c.name(), conv.path(), best / 1e6, gf, 100 * gf / (peak0 * threads), peak0, peak, c.count());
            }
        }
        System.out.printf("all convs (weighted by occurrence): %.2f ms, %.1f GFLOP/s, %.1f%% of best peak %.1f%n",
                totalTime / 1e6, totalFlops / totalTime, 100 * totalFlops / totalTime / (peak0 * threads), peak0);
    }

    private static MemorySegment fill(Arena arena, long count, Random rnd) {
        MemorySegment s = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) {
            s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4, rnd.nextFloat() - 0.5f);
        }
        return s;
    }
}
