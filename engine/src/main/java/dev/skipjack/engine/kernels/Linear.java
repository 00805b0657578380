package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fully connected layer: {@code y[n][out] = x[n][in] W^T + b}.
 *
 * <p>Batch 1 is a matrix-vector product bound by reading W, so the kernel streams W once per call: four
 * rows of W at a time (small enough to stay in L1) against every image of the batch.
 */
public final class Linear {
    private static final VectorSpecies<Float> S = Simd.FLOAT;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Output rows per block. */
    static final int RB = 4;
    /** Output rows per task. */
    private static final int ROWS_PER_TASK = 64;

    private final int inFeatures, outFeatures;
    // [out][in], copied so the layer owns its memory and the rows are 64-byte aligned when in % 16 == 0.
    private final MemorySegment weight;
    // [out]
    private final MemorySegment bias;
    private final Job job = new Job();

    /**
     * @param weight [outFeatures][inFeatures] float32
     * @param bias   [outFeatures] float32
     * @param arena  owns this layer's copy of the parameters
     */
    public Linear(int inFeatures, int outFeatures, MemorySegment weight, MemorySegment bias, Arena arena) {
        if (inFeatures < 1 || outFeatures < 1) {
            throw new IllegalArgumentException("Linear: bad size " + inFeatures + " -> " + outFeatures);
        }
        long wBytes = (long) inFeatures * outFeatures * 4;
        if (weight.byteSize() < wBytes) {
            throw new IllegalArgumentException("Linear: weight needs [" + outFeatures + "][" + inFeatures
                    + "] floats, got " + weight.byteSize() / 4);
        }
        if (bias.byteSize() < outFeatures * 4L) {
            throw new IllegalArgumentException("Linear: bias needs [" + outFeatures + "] floats, got "
                    + bias.byteSize() / 4);
        }
        this.inFeatures = inFeatures;
        this.outFeatures = outFeatures;
        this.weight = arena.allocate(wBytes, 64);
        MemorySegment.copy(weight, 0, this.weight, 0, wBytes);
        this.bias = arena.allocate(outFeatures * 4L, 64);
        MemorySegment.copy(bias, 0, this.bias, 0, outFeatures * 4L);
    }

    public int inFeatures() {
        return inFeatures;
    }

    public int outFeatures() {
        return outFeatures;
    }

    /** The weights, [out][in] (see {@link ConvKernel#weights}). */
    public MemorySegment weights() {
        return weight;
    }

    /** in [n][inFeatures] -> out [n][outFeatures]. */
    public void forward(MemorySegment in, MemorySegment out, int n, Parallel par) {
        if (n < 1) {
            throw new IllegalArgumentException("Linear: batch must be >= 1, got " + n);
        }
        synchronized (job) {
            Job j = job;
            j.in = in;
            j.out = out;
            j.n = n;
            j.tasks = (outFeatures + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
            j.next.set(0);
            try {
                par.forEach(Math.min(par.threads(), j.tasks), j);
            } finally {
                j.in = j.out = null;
            }
        }
    }

    private final class Job implements Parallel.Task {
        MemorySegment in, out;
        int n, tasks;
        final AtomicInteger next = new AtomicInteger();

        @Override
        public void run(int slot) {
            for (int t; (t = next.getAndIncrement()) < tasks; ) {
                int r0 = t * ROWS_PER_TASK, r1 = Math.min(outFeatures, r0 + ROWS_PER_TASK);
                int r = r0;
                for (; r + RB <= r1; r += RB) {
                    for (int img = 0; img < n; img++) {
                        dot4(r, img);
                    }
                }
                for (; r < r1; r++) {
                    for (int img = 0; img < n; img++) {
                        long x = (long) img * inFeatures * 4;
                        out.set(F32, ((long) img * outFeatures + r) * 4,
                                dot(weight, (long) r * inFeatures * 4, in, x, inFeatures) + bias.get(F32, r * 4L));
                    }
                }
            }
        }

        private void dot4(int r, int img) {
            long x = (long) img * inFeatures * 4;
            long w0 = (long) r * inFeatures * 4, rb = inFeatures * 4L;
            long w1 = w0 + rb, w2 = w1 + rb, w3 = w2 + rb;
            FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S);
            FloatVector s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
            int i = 0;
            for (int bound = S.loopBound(inFeatures); i < bound; i += L) {
                long o = i * 4L;
                FloatVector xv = FloatVector.fromMemorySegment(S, in, x + o, LE);
                s0 = FloatVector.fromMemorySegment(S, weight, w0 + o, LE).fma(xv, s0);
                s1 = FloatVector.fromMemorySegment(S, weight, w1 + o, LE).fma(xv, s1);
                s2 = FloatVector.fromMemorySegment(S, weight, w2 + o, LE).fma(xv, s2);
                s3 = FloatVector.fromMemorySegment(S, weight, w3 + o, LE).fma(xv, s3);
            }
            store4(r, img, i, Simd.sumLanes(s0), Simd.sumLanes(s1), Simd.sumLanes(s2), Simd.sumLanes(s3));
        }

        /**
         * {@link #dot4}'s scalar tail from feature i on, then the bias, into out: a method of its own, only floats
         * crossing its boundary. In dot4 its 17 segment accesses took C2's parse of dot4 past its inlining budget
         * (22,500 nodes; see Simd on what a vector operation left to late inlining can do).
         */
        private void store4(int r, int img, int i, float y0, float y1, float y2, float y3) {
            long x = (long) img * inFeatures * 4;
            long w0 = (long) r * inFeatures * 4, rb = inFeatures * 4L;
            long w1 = w0 + rb, w2 = w1 + rb, w3 = w2 + rb;
            for (; i < inFeatures; i++) {
                float xv = in.get(F32, x + i * 4L);
                y0 += weight.get(F32, w0 + i * 4L) * xv;
                y1 += weight.get(F32, w1 + i * 4L) * xv;
                y2 += weight.get(F32, w2 + i * 4L) * xv;
                y3 += weight.get(F32, w3 + i * 4L) * xv;
            }
            long o = ((long) img * outFeatures + r) * 4;
            out.set(F32, o, y0 + bias.get(F32, r * 4L));
            out.set(F32, o + 4, y1 + bias.get(F32, r * 4L + 4));
            out.set(F32, o + 8, y2 + bias.get(F32, r * 4L + 8));
            out.set(F32, o + 12, y3 + bias.get(F32, r * 4L + 12));
        }
    }

    /** One dot product of {@code count} floats, vector lanes then a scalar tail. */
    static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int count) {
        FloatVector s = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(count); i < bound; i += L) {
            s = FloatVector.fromMemorySegment(S, a, aOff + i * 4L, LE)
                    .fma(FloatVector.fromMemorySegment(S, b, bOff + i * 4L, LE), s);
        }
        float y = Simd.sumLanes(s);
        for (; i < count; i++) {
            y += a.get(F32, aOff + i * 4L) * b.get(F32, bOff + i * 4L);
        }
        return y;
    }
}
