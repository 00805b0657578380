package dev.skipjack.engine.kernels.reference;

import dev.skipjack.engine.kernels.ConvShape;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain scalar versions of every kernel, written for obviousness, not speed: the definitions the vector
 * kernels are tested against. Sums are accumulated in double, so the reference is closer to the exact answer
 * than any float32 kernel; tests allow for float rounding relative to the magnitude of each sum.
 */
public final class ReferenceKernels {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private ReferenceKernels() {
    }

    private static float f(MemorySegment s, long index) {
        return s.get(F32, index * 4);
    }

    /**
     * Direct convolution. in [n][cin][h][w], weight [cout][cin/groups][k][k], bias [cout],
     * residual null or [n][cout][oh][ow], out [n][cout][oh][ow]. If {@code magnitude} is not null it receives
     * [n][cout][oh][ow] sums of the absolute values of every term (for error bounds).
     */
    public static void conv2d(ConvShape s, MemorySegment in, MemorySegment weight, MemorySegment bias,
                              MemorySegment residual, boolean relu, int n, int h, int w,
                              MemorySegment out, MemorySegment magnitude) {
        int oh = s.outH(h), ow = s.outW(w), k = s.kernel();
        int cinG = s.cinPerGroup(), coutG = s.coutPerGroup();
        for (int img = 0; img < n; img++) {
            for (int co = 0; co < s.cout(); co++) {
                int g = co / coutG;
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        double acc = 0, mag = 0;
                        for (int ci = 0; ci < cinG; ci++) {
                            int cIn = g * cinG + ci;
                            for (int ky = 0; ky < k; ky++) {
                                int iy = oy * s.stride() - s.pad() + ky;
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                for (int kx = 0; kx < k; kx++) {
                                    int ix = ox * s.stride() - s.pad() + kx;
                                    if (ix < 0 || ix >= w) {
                                        continue;
                                    }
                                    double term = (double) f(weight, ((long) (co * cinG + ci) * k + ky) * k + kx)
                                            * f(in, (((long) img * s.cin() + cIn) * h + iy) * w + ix);
                                    acc += term;
                                    mag += Math.abs(term);
                                }
                            }
                        }
                        long o = (((long) img * s.cout() + co) * oh + oy) * ow + ox;
                        double b = f(bias, co);
                        acc += b;
                        mag += Math.abs(b);
                        if (residual != null) {
                            double r = f(residual, o);
                            acc += r;
                            mag += Math.abs(r);
                        }
                        if (relu) {
                            acc = Math.max(acc, 0);
                        }
                        out.set(F32, o * 4, (float) acc);
                        if (magnitude != null) {
                            magnitude.set(F32, o * 4, (float) mag);
                        }
                    }
                }
            }
        }
    }

    /** Max pooling with negative-infinity padding: in [n][c][h][w] -> out [n][c][oh][ow]. */
    public static void maxPool2d(MemorySegment in, MemorySegment out, int n, int c, int h, int w,
                                 int kernel, int stride, int pad) {
        int oh = (h + 2 * pad - kernel) / stride + 1, ow = (w + 2 * pad - kernel) / stride + 1;
        for (long p = 0; p < (long) n * c; p++) {
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    float m = Float.NEGATIVE_INFINITY;
                    for (int ky = 0; ky < kernel; ky++) {
                        for (int kx = 0; kx < kernel; kx++) {
                            int y = oy * stride - pad + ky, x = ox * stride - pad + kx;
                            if (y >= 0 && y < h && x >= 0 && x < w) {
                                float v = f(in, (p * h + y) * w + x);
                                if (v > m || Float.isNaN(v)) {
                                    m = v;
                                }
                                if (Float.isNaN(m)) {
                                    break;
                                }
                            }
                        }
                    }
                    out.set(F32, ((p * oh + oy) * ow + ox) * 4, m);
                }
            }
        }
    }

    /** Mean of each plane: in [n][c][h][w] -> out [n][c]. */
    public static void globalAvgPool(MemorySegment in, MemorySegment out, int n, int c, int h, int w) {
        for (long p = 0; p < (long) n * c; p++) {
            double sum = 0;
            for (long i = 0; i < (long) h * w; i++) {
                sum += f(in, p * h * w + i);
            }
            out.set(F32, p * 4, (float) (sum / ((long) h * w)));
        }
    }

    /** y[n][out] = x[n][in] W^T + b with W [out][in]. */
    public static void linear(MemorySegment in, MemorySegment weight, MemorySegment bias, MemorySegment out,
                              int n, int inFeatures, int outFeatures) {
        for (int img = 0; img < n; img++) {
            for (int o = 0; o < outFeatures; o++) {
                double acc = f(bias, o);
                for (int i = 0; i < inFeatures; i++) {
                    acc += (double) f(weight, (long) o * inFeatures + i) * f(in, (long) img * inFeatures + i);
                }
                out.set(F32, ((long) img * outFeatures + o) * 4, (float) acc);
            }
        }
    }
}
