package dev.skipjack.gpu.tornadovm;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * The device kernels, in TornadoVM's kernel style: one work-item per output element, indexed by
 * {@code kc.globalIdx} over a 1-D grid rounded up to the work-group size (so every kernel guards its index).
 *
 * <p>Every activation is float32 NCHW, flattened. The sizes that change with the input shape (batch, height,
 * width) are read from {@code dims} at offset {@code d}, so one compiled kernel serves every input shape;
 * everything fixed by the model (channels, kernel size, stride, padding) is a scalar argument.
 *
 * <p>Sums of more than a few terms are accumulated in blocks of {@value #BLOCK} and the block sums added up:
 * a long dot product in one float accumulator loses about sqrt(length) ulps, more than PyTorch's blocked
 * GEMMs, and the fidelity bar is relative to PyTorch's own float32 error.
 */
public final class Kernels {
    private Kernels() {}

    /** Terms summed per partial sum. */
    static final int BLOCK = 16;

    /** Epilogue flags of {@link #conv}. */
    static final int RESIDUAL = 1;
    static final int RELU = 2;

    /** Entries of {@code dims} per layer: n, h, w, oh, ow (input height/width, output height/width). */
    static final int DIMS = 5;

    /**
     * Direct convolution with the folded batch-norm bias and the block's residual add and ReLU fused:
     * {@code out = relu?(conv(in) + bias + residual?)}. Work-item {@code i} computes {@code out[i]}, i.e.
     * {@code (img, co, oy, ox)} with the output pixel fastest, so neighbouring work-items read neighbouring
     * input pixels and the same weights.
     *
     * @param in       [n][cin][h][w]
     * @param weight   [cout][cin/groups][k][k]
     * @param bias     [cout]
     * @param residual [n][cout][oh][ow], read only when {@code flags} has {@link #RESIDUAL}
     * @param out      [n][cout][oh][ow]
     */
    public static void conv(KernelContext kc, FloatArray in, FloatArray weight, FloatArray bias, FloatArray residual,
                            FloatArray out, IntArray dims, int d, int cin, int cout, int k, int stride, int pad,
                            int groups, int flags) {
        int n = dims.get(d);
        int h = dims.get(d + 1);
        int w = dims.get(d + 2);
        int oh = dims.get(d + 3);
        int ow = dims.get(d + 4);
        int pixels = oh * ow;
        int i = kc.globalIdx;
        if (i < n * cout * pixels) {
            int p = i % pixels;
            int oy = p / ow;
            int ox = p - oy * ow;
            int plane = i / pixels;
            int co = plane % cout;
            int img = plane / cout;
            int cinG = cin / groups;
            int g = co / (cout / groups);
            int iy0 = oy * stride - pad;
            int ix0 = ox * stride - pad;
            int kk = k * k;
            int hw = h * w;
            int wBase = co * cinG * kk;
            int inBase = (img * cin + g * cinG) * hw;
            float acc = 0f;
            for (int c0 = 0; c0 < cinG; c0 += BLOCK) {
                int c1 = Math.min(c0 + BLOCK, cinG);
                float block = 0f;
                for (int ci = c0; ci < c1; ci++) {
                    int src = inBase + ci * hw;
                    int wRow = wBase + ci * kk;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = iy0 + ky;
                        if (iy >= 0 && iy < h) {
                            for (int kx = 0; kx < k; kx++) {
                                int ix = ix0 + kx;
                                if (ix >= 0 && ix < w) {
                                    block += in.get(src + iy * w + ix) * weight.get(wRow + ky * k + kx);
                                }
                            }
                        }
                    }
                }
                acc += block;
            }
            float v = acc + bias.get(co);
            if ((flags & RESIDUAL) != 0) {
                v += residual.get(i);
            }
            if ((flags & RELU) != 0 && v < 0f) {
                v = 0f;
            }
            out.set(i, v);
        }
    }

    /** Output channels per work-item of {@link #conv4}. */
    static final int CO_BLOCK = 4;

    /**
     * {@link #conv} with each work-item computing {@value #CO_BLOCK} consecutive output channels of one pixel,
     * so every input value it loads feeds four multiply-adds (for {@code cout / groups} a multiple of
     * {@value #CO_BLOCK}, as in every torchvision ResNet). Work-item {@code i} is {@code (img, co / 4, oy, ox)},
     * pixel fastest; same arguments and the same summation order per output as {@link #conv}.
     */
    public static void conv4(KernelContext kc, FloatArray in, FloatArray weight, FloatArray bias, FloatArray residual,
                             FloatArray out, IntArray dims, int d, int cin, int cout, int k, int stride, int pad,
                             int groups, int flags) {
        int n = dims.get(d);
        int h = dims.get(d + 1);
        int w = dims.get(d + 2);
        int oh = dims.get(d + 3);
        int ow = dims.get(d + 4);
        int pixels = oh * ow;
        int blocks = cout / CO_BLOCK;
        int i = kc.globalIdx;
        if (i < n * blocks * pixels) {
            int p = i % pixels;
            int oy = p / ow;
            int ox = p - oy * ow;
            int plane = i / pixels;
            int co = (plane % blocks) * CO_BLOCK;
            int img = plane / blocks;
            int cinG = cin / groups;
            int g = co / (cout / groups);
            int iy0 = oy * stride - pad;
            int ix0 = ox * stride - pad;
            int kk = k * k;
            int hw = h * w;
            int wStride = cinG * kk;
            int w0 = co * wStride;
            int inBase = (img * cin + g * cinG) * hw;
            float acc0 = 0f;
            float acc1 = 0f;
            float acc2 = 0f;
            float acc3 = 0f;
            for (int c0 = 0; c0 < cinG; c0 += BLOCK) {
                int c1 = Math.min(c0 + BLOCK, cinG);
                float b0 = 0f;
                float b1 = 0f;
                float b2 = 0f;
                float b3 = 0f;
                for (int ci = c0; ci < c1; ci++) {
                    int src = inBase + ci * hw;
                    int wRow = w0 + ci * kk;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = iy0 + ky;
                        if (iy >= 0 && iy < h) {
                            for (int kx = 0; kx < k; kx++) {
                                int ix = ix0 + kx;
                                if (ix >= 0 && ix < w) {
                                    float x = in.get(src + iy * w + ix);
                                    int wi = wRow + ky * k + kx;
                                    b0 += x * weight.get(wi);
                                    b1 += x * weight.get(wi + wStride);
                                    b2 += x * weight.get(wi + 2 * wStride);
                                    b3 += x * weight.get(wi + 3 * wStride);
                                }
                            }
                        }
                    }
                }
                acc0 += b0;
                acc1 += b1;
                acc2 += b2;
                acc3 += b3;
            }
            int o = (img * cout + co) * pixels + p;
            store(out, residual, o, acc0 + bias.get(co), flags);
            store(out, residual, o + pixels, acc1 + bias.get(co + 1), flags);
            store(out, residual, o + 2 * pixels, acc2 + bias.get(co + 2), flags);
            store(out, residual, o + 3 * pixels, acc3 + bias.get(co + 3), flags);
        }
    }

    /** The convolution epilogue: {@code out[o] = relu?(v + residual[o]?)}. */
    private static void store(FloatArray out, FloatArray residual, int o, float v, int flags) {
        float r = v;
        if ((flags & RESIDUAL) != 0) {
            r += residual.get(o);
        }
        if ((flags & RELU) != 0 && r < 0f) {
            r = 0f;
        }
        out.set(o, r);
    }

    /**
     * Max pooling over a k x k window with stride and padding; padded positions never win (as PyTorch pads
     * with -infinity). Work-item {@code i} computes {@code out[i]} of [n][c][oh][ow] from in [n][c][h][w].
     */
    public static void maxPool(KernelContext kc, FloatArray in, FloatArray out, IntArray dims, int d, int c, int k,
                               int stride, int pad) {
        int n = dims.get(d);
        int h = dims.get(d + 1);
        int w = dims.get(d + 2);
        int oh = dims.get(d + 3);
        int ow = dims.get(d + 4);
        int pixels = oh * ow;
        int i = kc.globalIdx;
        if (i < n * c * pixels) {
            int p = i % pixels;
            int oy = p / ow;
            int ox = p - oy * ow;
            int src = (i / pixels) * h * w;
            float m = Float.NEGATIVE_INFINITY;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * stride - pad + ky;
                if (iy >= 0 && iy < h) {
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * stride - pad + kx;
                        if (ix >= 0 && ix < w) {
                            float x = in.get(src + iy * w + ix);
                            if (x > m) {
                                m = x;
                            }
                        }
                    }
                }
            }
            out.set(i, m);
        }
    }

    /** Global average pooling: work-item {@code i} averages plane {@code i} of in [n][c][h][w] into out [n][c]. */
    public static void avgPool(KernelContext kc, FloatArray in, FloatArray out, IntArray dims, int d, int c) {
        int n = dims.get(d);
        int hw = dims.get(d + 1) * dims.get(d + 2);
        int i = kc.globalIdx;
        if (i < n * c) {
            int src = i * hw;
            float acc = 0f;
            for (int j0 = 0; j0 < hw; j0 += BLOCK) {
                int j1 = Math.min(j0 + BLOCK, hw);
                float block = 0f;
                for (int j = j0; j < j1; j++) {
                    block += in.get(src + j);
                }
                acc += block;
            }
            out.set(i, acc / hw);
        }
    }

    /**
     * The fully connected layer: work-item {@code i = (img, o)} computes
     * {@code out[img][o] = bias[o] + sum_j in[img][j] * weight[o][j]}; in [n][inF], weight [outF][inF].
     */
    public static void fc(KernelContext kc, FloatArray in, FloatArray weight, FloatArray bias, FloatArray out,
                          IntArray dims, int d, int inF, int outF) {
        int n = dims.get(d);
        int i = kc.globalIdx;
        if (i < n * outF) {
            int img = i / outF;
            int o = i - img * outF;
            int x = img * inF;
            int wRow = o * inF;
            float acc = 0f;
            for (int j0 = 0; j0 < inF; j0 += BLOCK) {
                int j1 = Math.min(j0 + BLOCK, inF);
                float block = 0f;
                for (int j = j0; j < j1; j++) {
                    block += in.get(x + j) * weight.get(wRow + j);
                }
                acc += block;
            }
            out.set(i, acc + bias.get(o));
        }
    }
}
