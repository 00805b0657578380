package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Max pooling with implicit negative-infinity padding, as torchvision's {@code MaxPool2d(3, 2, 1)} (any
 * kernel, stride and padding work). NaN propagates, as in PyTorch.
 *
 * <p>ResNet's 3x3 stride-2 pool runs on vectors over its interior: per output row, the vertical max of three
 * input rows, then the stride-2 horizontal max by splitting the even and odd columns of two vectors apart
 * (a two-vector rearrange). A scalar version of this pool took 6% of ResNet-50's time. Edges, where a
 * window reaches into the padding, and other kernel sizes or strides run the scalar loop.
 */
public final class MaxPool2d {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    // Static methods cannot keep a Task per caller; one shared job, guarded by its own monitor, keeps calls
    // allocation-free (concurrent callers would be serialized by the pool's lock anyway).
    private static final Job JOB = new Job();
    private static final VectorSpecies<Float> S = Simd.FLOAT;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private MaxPool2d() {
    }

    /** Output size of one axis: {@code (size + 2 pad - kernel) / stride + 1}. */
    public static int outSize(int size, int kernel, int stride, int pad) {
        if (kernel < 1 || stride < 1 || pad < 0 || size < 1 || size + 2 * pad < kernel) {
            throw new IllegalArgumentException("MaxPool2d: input size " + size + " with kernel " + kernel
                    + " stride " + stride + " pad " + pad + " has no output");
        }
        if (pad > kernel / 2) {
            throw new IllegalArgumentException("MaxPool2d: pad " + pad + " must be at most half the kernel " + kernel);
        }
        return (size + 2 * pad - kernel) / stride + 1;
    }

    /** in [n][c][h][w] -> out [n][c][oh][ow]. */
    public static void forward(MemorySegment in, MemorySegment out, int n, int c, int h, int w,
                               int kernel, int stride, int pad, Parallel par) {
        int oh = outSize(h, kernel, stride, pad), ow = outSize(w, kernel, stride, pad);
        synchronized (JOB) {
            Job j = JOB;
            j.in = in;
            j.out = out;
            j.planes = n * c;
            j.h = h;
            j.w = w;
            j.oh = oh;
            j.ow = ow;
            j.kernel = kernel;
            j.stride = stride;
            j.pad = pad;
            j.parts = Math.min(par.threads(), j.planes);
            try {
                par.forEach(j.parts, j);
            } finally {
                j.in = j.out = null;
            }
        }
    }

    /**
     * in NHWC [n][h][w][c] -> out NHWC [n][oh][ow][c], followed by the pixel of zeros ({@code c} floats) that
     * the channels-last convolutions read for their padding taps (see {@link ConvNhwc}). Vectors along the
     * channels, each window clamped to the input (padding is -infinity: it never wins).
     */
    public static void forwardChannelsLast(MemorySegment in, MemorySegment out, int n, int c, int h, int w,
                                           int kernel, int stride, int pad, Parallel par) {
        int oh = outSize(h, kernel, stride, pad), ow = outSize(w, kernel, stride, pad);
        long need = ((long) n * oh * ow + 1) * c;
        if (in.byteSize() < (long) n * h * w * c * 4 || out.byteSize() < need * 4) {
            throw new IllegalArgumentException("MaxPool2d (channels-last): for n=" + n + " c=" + c + " " + h + "x" + w
                    + " the input needs " + (long) n * h * w * c + " floats (has " + in.byteSize() / 4
                    + "), the output " + need + " (has " + out.byteSize() / 4 + ")");
        }
        synchronized (LAST_JOB) {
            LastJob j = LAST_JOB;
            j.in = in;
            j.out = out;
            j.c = c;
            j.h = h;
            j.w = w;
            j.oh = oh;
            j.ow = ow;
            j.kernel = kernel;
            j.stride = stride;
            j.pad = pad;
            j.rows = n * oh;
            j.parts = Math.min(par.threads(), j.rows);
            try {
                par.forEach(j.parts, j);
            } finally {
                j.in = j.out = null;
            }
        }
        ConvNhwc.zeroPixel(out, (long) n * oh * ow * c, c);
    }

    private static final LastJob LAST_JOB = new LastJob();

    /** The channels-last pool: each part a share of the output rows (image, oy). */
    private static final class LastJob implements Parallel.Task {
        MemorySegment in, out;
        int c, h, w, oh, ow, kernel, stride, pad, rows, parts;

        @Override
        public void run(int part) {
            long rowBytes = (long) w * c * 4, pixBytes = c * 4L;
            for (int r = (int) ((long) rows * part / parts), r1 = (int) ((long) rows * (part + 1) / parts); r < r1; r++) {
                int img = r / oh, oy = r - img * oh;
                int y0 = oy * stride - pad, ya = Math.max(y0, 0), yb = Math.min(y0 + kernel, h);
                long o = (long) r * ow * pixBytes;
                for (int ox = 0; ox < ow; ox++, o += pixBytes) {
                    int x0 = ox * stride - pad, xa = Math.max(x0, 0), xb = Math.min(x0 + kernel, w);
                    long first = ((long) img * h + ya) * rowBytes + xa * pixBytes;
                    int ch = 0;
                    if (yb - ya == 3 && xb - xa == 3) { // a whole 3x3 window: nine loads a vector, no loops
                        long q0 = first, q1 = q0 + rowBytes, q2 = q1 + rowBytes;
                        for (; ch + L <= c; ch += L) {
                            long cb = ch * 4L;
                            FloatVector.fromMemorySegment(S, in, q0 + cb, LE)
                                    .max(FloatVector.fromMemorySegment(S, in, q0 + pixBytes + cb, LE))
                                    .max(FloatVector.fromMemorySegment(S, in, q0 + 2 * pixBytes + cb, LE))
                                    .max(FloatVector.fromMemorySegment(S, in, q1 + cb, LE)
                                            .max(FloatVector.fromMemorySegment(S, in, q1 + pixBytes + cb, LE))
                                            .max(FloatVector.fromMemorySegment(S, in, q1 + 2 * pixBytes + cb, LE)))
                                    .max(FloatVector.fromMemorySegment(S, in, q2 + cb, LE)
                                            .max(FloatVector.fromMemorySegment(S, in, q2 + pixBytes + cb, LE))
                                            .max(FloatVector.fromMemorySegment(S, in, q2 + 2 * pixBytes + cb, LE)))
                                    .intoMemorySegment(out, o + cb, LE);
                        }
                    }
                    for (; ch + L <= c; ch += L) {
                        long cb = ch * 4L;
                        FloatVector m = FloatVector.fromMemorySegment(S, in, first + cb, LE);
                        for (int y = ya; y < yb; y++) {
                            long row = ((long) img * h + y) * rowBytes + cb;
                            for (int x = xa; x < xb; x++) {
                                m = m.max(FloatVector.fromMemorySegment(S, in, row + x * pixBytes, LE));
                            }
                        }
                        m.intoMemorySegment(out, o + cb, LE);
                    }
                    for (; ch < c; ch++) { // channels past the last whole vector
                        float m = Float.NEGATIVE_INFINITY;
                        for (int y = ya; y < yb; y++) {
                            for (int x = xa; x < xb; x++) {
                                m = Math.max(m, in.get(F32, ((long) img * h + y) * rowBytes + x * pixBytes + ch * 4L));
                            }
                        }
                        out.set(F32, o + ch * 4L, m);
                    }
                }
            }
        }
    }

    private static final class Job implements Parallel.Task {
        MemorySegment in, out;
        int planes, h, w, oh, ow, kernel, stride, pad, parts;

        @Override
        public void run(int part) {
            int p0 = (int) ((long) planes * part / parts), p1 = (int) ((long) planes * (part + 1) / parts);
            for (int p = p0; p < p1; p++) {
                plane(in, (long) p * h * w * 4, out, (long) p * oh * ow * 4, h, w, oh, ow, kernel, stride, pad);
            }
        }
    }

    /** One plane [h][w] -> [oh][ow] at the given byte offsets. */
    static void plane(MemorySegment in, long inOff, MemorySegment out, long outOff, int h, int w, int oh, int ow,
                      int kernel, int stride, int pad) {
        if (kernel != 3 || stride != 2 || pad != 1) {
            scalarRows(in, inOff, out, outOff, h, w, ow, kernel, stride, pad, 0, oh);
            return;
        }
        // Output rows whose window lies inside the input: 2 oy - 1 >= 0 and 2 oy + 1 <= h - 1.
        int yLo = Math.min(1, oh), yHi = Math.max(yLo, Math.min(oh, h / 2));
        // Output columns a vector block may start at: its loads span input columns [2 ox0 - 1, 2 ox0 + 2L - 1].
        int xLast = Math.min(ow - L, (w - 2 * L) / 2);
        scalarRows(in, inOff, out, outOff, h, w, ow, 3, 2, 1, 0, yLo);
        for (int oy = yLo; oy < yHi; oy++) {
            long r0 = inOff + (long) (2 * oy - 1) * w * 4;
            long o = outOff + (long) oy * ow * 4;
            int done = 0;
            if (xLast >= 1) {
                for (int ox0 = 1; ; ox0 = Math.min(ox0 + L, xLast)) {
                    block3x3s2(in, r0 + (2L * ox0 - 1) * 4, w * 4L, out, o + ox0 * 4L);
                    if (ox0 == xLast) {
                        break;
                    }
                }
                done = xLast + L;
                scalarCells(in, inOff, out, outOff, h, w, ow, 3, 2, 1, oy, 0, 1);
            }
            scalarCells(in, inOff, out, outOff, h, w, ow, 3, 2, 1, oy, done, ow);
        }
        scalarRows(in, inOff, out, outOff, h, w, ow, 3, 2, 1, yHi, oh);
    }

    /**
     * L outputs of a 3x3 stride-2 pool: {@code x} is input column 2 ox0 - 1 of the window's top row, rows
     * {@code rowBytes} apart. Columns x + 2i, x + 2i + 1, x + 2i + 2 feed output i: the even and odd lanes of
     * the vertical max at x, and the odd lanes of the one at x + 1.
     */
    private static void block3x3s2(MemorySegment in, long x, long rowBytes, MemorySegment out, long o) {
        long x1 = x + rowBytes, x2 = x1 + rowBytes;
        long vb = S.vectorByteSize();
        FloatVector a0 = FloatVector.fromMemorySegment(S, in, x, LE)
                .max(FloatVector.fromMemorySegment(S, in, x1, LE))
                .max(FloatVector.fromMemorySegment(S, in, x2, LE));
        FloatVector a1 = FloatVector.fromMemorySegment(S, in, x + vb, LE)
                .max(FloatVector.fromMemorySegment(S, in, x1 + vb, LE))
                .max(FloatVector.fromMemorySegment(S, in, x2 + vb, LE));
        FloatVector b0 = FloatVector.fromMemorySegment(S, in, x + 4, LE)
                .max(FloatVector.fromMemorySegment(S, in, x1 + 4, LE))
                .max(FloatVector.fromMemorySegment(S, in, x2 + 4, LE));
        FloatVector b1 = FloatVector.fromMemorySegment(S, in, x + 4 + vb, LE)
                .max(FloatVector.fromMemorySegment(S, in, x1 + 4 + vb, LE))
                .max(FloatVector.fromMemorySegment(S, in, x2 + 4 + vb, LE));
        a0.rearrange(Simd.EVEN, a1).max(a0.rearrange(Simd.ODD, a1)).max(b0.rearrange(Simd.ODD, b1))
                .intoMemorySegment(out, o, LE);
    }

    private static void scalarRows(MemorySegment in, long inOff, MemorySegment out, long outOff, int h, int w,
                                   int ow, int kernel, int stride, int pad, int oy0, int oy1) {
        for (int oy = oy0; oy < oy1; oy++) {
            scalarCells(in, inOff, out, outOff, h, w, ow, kernel, stride, pad, oy, 0, ow);
        }
    }

    /** Outputs [ox0, ox1) of row oy, one by one. */
    private static void scalarCells(MemorySegment in, long inOff, MemorySegment out, long outOff, int h, int w,
                                    int ow, int kernel, int stride, int pad, int oy, int ox0, int ox1) {
        int y0 = oy * stride - pad;
        int ya = Math.max(y0, 0), yb = Math.min(y0 + kernel, h);
        boolean yInside = y0 >= 0 && y0 + kernel <= h;
        for (int ox = ox0; ox < ox1; ox++) {
            int x0 = ox * stride - pad;
            float m;
            if (yInside && x0 >= 0 && x0 + kernel <= w) {
                m = Float.NEGATIVE_INFINITY;
                long row = inOff + ((long) y0 * w + x0) * 4;
                for (int dy = 0; dy < kernel; dy++, row += w * 4L) {
                    for (int dx = 0; dx < kernel; dx++) {
                        m = Math.max(m, in.get(F32, row + dx * 4L));
                    }
                }
            } else {
                int xa = Math.max(x0, 0), xb = Math.min(x0 + kernel, w);
                m = Float.NEGATIVE_INFINITY;
                for (int y = ya; y < yb; y++) {
                    for (int x = xa; x < xb; x++) {
                        m = Math.max(m, in.get(F32, inOff + ((long) y * w + x) * 4));
                    }
                }
            }
            out.set(F32, outOff + ((long) oy * ow + ox) * 4, m);
        }
    }
}
