package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Max pooling with implicit negative-infinity padding, as torchvision's {@code MaxPool2d(3, 2, 1)} (any
 * kernel, stride and padding work). NaN propagates, as in PyTorch.
 *
 * <p>Scalar on purpose: with stride 2 the inputs of neighbouring outputs are interleaved, and the whole pool
 * is well under 1% of a ResNet's time. The interior, where no window touches the padding, runs without
 * bounds tests.
 */
public final class MaxPool2d {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    // Static methods cannot keep a Task per caller; one shared job, guarded by its own monitor, keeps calls
    // allocation-free (concurrent callers would be serialized by the pool's lock anyway).
    private static final Job JOB = new Job();

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

    static void plane(MemorySegment in, long inOff, MemorySegment out, long outOff, int h, int w, int oh, int ow,
                      int kernel, int stride, int pad) {
        for (int oy = 0; oy < oh; oy++) {
            int y0 = oy * stride - pad;
            int ya = Math.max(y0, 0), yb = Math.min(y0 + kernel, h);
            boolean yInside = y0 >= 0 && y0 + kernel <= h;
            for (int ox = 0; ox < ow; ox++) {
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
}
