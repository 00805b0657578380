package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Things that concern all kernels at once. */
public final class Kernels {
    private Kernels() {
    }

    /**
     * Runs every kernel and every code path of them (each convolution path, partial panels, several depth
     * blocks, with and without residual and ReLU) on small inputs until the JIT has compiled them with C2.
     *
     * <p>Why: the Vector API is only intrinsified by C2. Until then a kernel runs in the interpreter or in C1
     * code where every vector operation is a method call that allocates, one to two orders of magnitude
     * slower, and a first inference at full size would spend seconds there. Small problems reach C2's
     * thresholds (thousands of calls and loop iterations) in a fraction of that. Call it once per process,
     * e.g. when a model is loaded. Takes about a second on an idle 2-core machine (2 to 5 s on a busy
     * one, where the JIT's compiler threads get less time).
     */
    public static void warmUp(Parallel par) {
        warmUp(par, 1000);
    }

    /** {@link #warmUp(Parallel)} with a chosen number of rounds (each runs every kernel once). */
    public static void warmUp(Parallel par, int rounds) {
        // Tiny problems: until C2 has compiled them, every vector operation costs on the order of a
        // microsecond, so what counts is the number of calls and loop trips, not their size.
        ConvShape[] shapes = {
                new ConvShape(8, 8, 1, 1, 0, 1),     // DIRECT, partial last panel
                new ConvShape(264, 8, 1, 1, 0, 1),   // DIRECT, two depth blocks (accumulating kernel)
                new ConvShape(8, 8, 3, 1, 1, 1),     // PHASED, stride 1
                new ConvShape(8, 8, 3, 2, 1, 1),     // PHASED, four phases
                new ConvShape(8, 8, 1, 2, 0, 1),     // downsample
                new ConvShape(3, 8, 7, 2, 3, 1),     // stem: depth blocks across taps
        };
        int[] sizes = {5, 2, 5, 6, 6, 6};
        int n = 1;
        try (Arena arena = Arena.ofShared()) {
            Conv2d[] convs = new Conv2d[shapes.length];
            MemorySegment[] scratch = new MemorySegment[shapes.length];
            MemorySegment in = filled(arena, 264L * 6 * 6, 0.01f);
            MemorySegment out = arena.allocate(8L * 6 * 6 * 4, 64);
            MemorySegment res = filled(arena, 8L * 6 * 6, 0.02f);
            for (int i = 0; i < shapes.length; i++) {
                ConvShape s = shapes[i];
                convs[i] = new Conv2d(s, filled(arena, (long) s.cout() * s.gemmK(), 0.001f),
                        filled(arena, s.cout(), 0.1f), arena);
                scratch[i] = arena.allocate(convs[i].scratchBytes(n, sizes[i], sizes[i], par.threads()), 64);
            }
            MemorySegment pooled = arena.allocate(8L * 3 * 3 * 4, 64);
            MemorySegment avg = arena.allocate(8L * 4, 64);
            Linear fc = new Linear(8, 10, filled(arena, 80, 0.01f), filled(arena, 10, 0f), arena);
            MemorySegment logits = arena.allocate(40, 64);
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < shapes.length; i++) {
                    boolean withRes = (r & 1) == 0 && shapes[i].stride() == 1;
                    convs[i].forward(in, out, withRes ? res : null, (r & 2) == 0, n, sizes[i], sizes[i], scratch[i], par);
                }
                MaxPool2d.forward(out, pooled, n, 8, 5, 5, 3, 2, 1, par);
                GlobalAvgPool.forward(pooled, avg, n, 8, 3, 3, par);
                fc.forward(avg, logits, n, par);
            }
        }
    }

    private static MemorySegment filled(Arena arena, long count, float value) {
        MemorySegment s = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) {
            s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4, value * (1 + (i % 7)));
        }
        return s;
    }
}
