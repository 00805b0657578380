package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code AdaptiveAvgPool2d((1, 1))} followed by flatten: [n][c][h][w] -> [n][c], the mean of each plane; or
 * from channels-last [n][h][w][c] ({@link #forwardChannelsLast}).
 */
public final class GlobalAvgPool {
    private static final VectorSpecies<Float> S = Simd.FLOAT;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final Job JOB = new Job();
    private static final LastJob LAST_JOB = new LastJob();
    /** Inputs up to this many floats are pooled on the calling thread alone. */
    static final long PARALLEL_FLOATS = 1L << 20;

    private GlobalAvgPool() {
    }

    /** in [n][c][h][w] -> out [n][c]. */
    public static void forward(MemorySegment in, MemorySegment out, int n, int c, int h, int w, Parallel par) {
        if (n < 1 || c < 1 || h < 1 || w < 1) {
            throw new IllegalArgumentException("GlobalAvgPool: bad shape [" + n + "][" + c + "][" + h + "][" + w + "]");
        }
        synchronized (JOB) {
            Job j = JOB;
            j.in = in;
            j.out = out;
            j.planes = n * c;
            j.hw = h * w;
            // Below a few MB the pool's hand-off costs more than it saves (ResNet-50 at batch 8: 800K floats,
            // about 0.1 ms on one thread), and in some runs the worker's share ran slowly for the whole run.
            long floats = (long) j.planes * j.hw;
            j.parts = floats <= PARALLEL_FLOATS ? 1 : Math.min(par.threads(), Math.max(1, j.planes / 64));
            try {
                par.forEach(j.parts, j);
            } finally {
                j.in = j.out = null;
            }
        }
    }

    /**
     * in [n][h][w][c] -> out [n][c]: per image, the pixels' channel vectors summed in pixel order, then divided
     * by h * w (as the NCHW path divides each plane's sum). Parts share the (image, channel vector) pairs; c a
     * multiple of the vector length or not (a masked last vector; whole vectors load unmasked).
     */
    public static void forwardChannelsLast(MemorySegment in, MemorySegment out, int n, int c, int h, int w,
                                           Parallel par) {
        if (n < 1 || c < 1 || h < 1 || w < 1) {
            throw new IllegalArgumentException("GlobalAvgPool: bad shape [" + n + "][" + h + "][" + w + "][" + c + "]");
        }
        synchronized (LAST_JOB) {
            LastJob j = LAST_JOB;
            j.in = in;
            j.out = out;
            j.n = n;
            j.c = c;
            j.hw = h * w;
            long floats = (long) n * c * h * w;
            j.parts = floats <= PARALLEL_FLOATS ? 1 : Math.min(par.threads(), n * ((c + S.length() - 1) / S.length()));
            try {
                par.forEach(j.parts, j);
            } finally {
                j.in = j.out = null;
            }
        }
    }

    private static final class LastJob implements Parallel.Task {
        MemorySegment in, out;
        int n, c, hw, parts;

        /** Part p: a share of the (image, channel vector) pairs, so one image's channels split across threads. */
        @Override
        public void run(int part) {
            int l = S.length(), vectors = (c + l - 1) / l;
            long all = (long) n * vectors;
            for (long q = all * part / parts, end = all * (part + 1) / parts; q < end; q++) {
                int img = (int) (q / vectors), k = (int) (q % vectors) * l;
                long base = (long) img * hw * c * 4;
                FloatVector acc = FloatVector.zero(S);
                if (k + l <= c) { // a whole vector of channels: unmasked loads
                    for (int p = 0; p < hw; p++) {
                        acc = acc.add(FloatVector.fromMemorySegment(S, in, base + ((long) p * c + k) * 4, LE));
                    }
                    acc.div(hw).intoMemorySegment(out, ((long) img * c + k) * 4, LE);
                } else {
                    var m = S.indexInRange(k, c);
                    for (int p = 0; p < hw; p++) {
                        acc = acc.add(FloatVector.fromMemorySegment(S, in, base + ((long) p * c + k) * 4, LE, m));
                    }
                    acc.div(hw).intoMemorySegment(out, ((long) img * c + k) * 4, LE, m);
                }
            }
        }
    }

    private static final class Job implements Parallel.Task {
        MemorySegment in, out;
        int planes, hw, parts;

        @Override
        public void run(int part) {
            int p0 = (int) ((long) planes * part / parts), p1 = (int) ((long) planes * (part + 1) / parts);
            for (int p = p0; p < p1; p++) {
                out.set(F32, p * 4L, mean(in, (long) p * hw * 4, hw));
            }
        }
    }

    /**
     * The mean of {@code count} floats at byte offset {@code off}: float lanes, the last vector masked, then a
     * lane reduction. One counted loop and no scalar tail: with a two-accumulator loop and a scalar tail, C2's
     * compiled code kept trapping on ResNet's 7x7 planes (profile predicates), and in some runs the layer
     * stayed in slow code, 0.6-3.5 ms instead of 0.03 ms.
     */
    static float mean(MemorySegment in, long off, int count) {
        FloatVector acc = FloatVector.zero(S);
        int l = S.length();
        int i = 0;
        for (int bound = S.loopBound(count); i < bound; i += l) {
            acc = acc.add(FloatVector.fromMemorySegment(S, in, off + i * 4L, LE));
        }
        if (i < count) {
            acc = acc.add(FloatVector.fromMemorySegment(S, in, off + i * 4L, LE, S.indexInRange(i, count)));
        }
        return Simd.sumLanes(acc) / count;
    }
}
