package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A bottleneck block's last 1x1 convolution with the block's downsample projection (a 1x1 convolution of the
 * block's input, any stride) fused into it, channels-last:
 * {@code out[p][co] = relu?(bias[co] + sum_ci h[p][ci] W[co][ci] + sum_cj x[s p][cj] P[co][cj])}, where h is the
 * block's middle value, x the block's input and {@code s p} the pixel of x the projection reads for output pixel p
 * (row and column times the stride). The bias is both layers' folded biases summed.
 *
 * <p>What it saves: unfused, the projection writes its output (as large as this layer's: 3.2 MB at 56 x 56 x 256,
 * batch 1) and this layer reads it back as its residual, both through memory, and each is a layer of its own with
 * its barrier and its threads' wait at the end. Fused, per tile of 6 pixels by 64 channels one
 * {@link ConvNhwc#kernel6x4} call over h's channels and one over x's, both into the thread's scratch (L1), then the
 * bias, the projection's sums (as {@link ConvNhwc#finishWide}'s residual) and ReLU into out in one pass: the
 * projection's output is never written. Unlike the unfused pair, the projection's sums and the convolution's are rounded as one float32 sum, not
 * two rounded separately and added: a difference of an ulp or so in a logit's terms, well inside the fidelity bar.
 *
 * <p>Layouts: h NHWC {@code [n][oh][ow][cin]} (and its zero pixel), x NHWC {@code [n][xh][xw][pcin]} with
 * {@code oh = (xh - 1) / s + 1}, out NHWC {@code [n][oh][ow][cout]} followed by one pixel of zeros (see
 * {@link ConvNhwc}); weights packed [pair][ci][2 NRC], each pair of panels 64 output channels. Needs 16-lane
 * vectors (AVX-512: the 6x4 tile's 24 accumulators) and cout a multiple of 64: {@link #supports}.
 *
 * <p>Work is split as ConvNhwc's 1x1s ({@link ConvNhwc.BlockJob}): tasks of (pair, block of tiles), a share per
 * thread. The tiles' pixels are consecutive (no spread order: this layer writes four times what it reads).
 */
public final class ProjectedConvNhwc implements ConvKernel {
    private static final int WP = ConvNhwc.WP;
    private static final int NRC = ConvNhwc.NRC;

    private final ConvShape shape, projection;
    private final int cin, cout, pcin, stride, pairs;
    // [pairs][cin][2 NRC] and [pairs][pcin][2 NRC]
    private final MemorySegment packedW, packedP;
    // [cout]: both biases summed
    private final MemorySegment bias;
    private final Job job = new Job();
    /**
     * Whether the projection's calls read the next pair's projection weights ahead ({@link ConvNhwc#kernel6x4Ahead}):
     * from {@link ConvNhwc#TOUCH_MIN_BYTES} of them on, as ConvNhwc's wide tiles do (ResNet-50's last two, 2 and 8
     * MB, from memory at batch 1) unless {@link #READ_AHEAD} is off.
     */
    private final boolean readAhead;
    /** For experiments ({@code -Dskipjack.proj.ahead=false}): {@link #readAhead} never. */
    static final boolean READ_AHEAD = !"false".equals(System.getProperty("skipjack.proj.ahead"));

    /**
     * Whether a 1x1 stride-1 {@code shape} can take the 1x1 {@code projection} of the block's input: one group each,
     * no padding, the same output channels, a multiple of 64, and 16-lane vectors.
     */
    public static boolean supports(ConvShape shape, ConvShape projection) {
        return Gemm.L >= 16 && shape.kernel() == 1 && shape.stride() == 1 && shape.pad() == 0 && shape.groups() == 1
                && projection.kernel() == 1 && projection.pad() == 0 && projection.groups() == 1
                && projection.cout() == shape.cout() && shape.cout() % (2 * NRC) == 0;
    }

    /**
     * Packs both weights once into {@code arena}.
     *
     * @param weight     the convolution's [cout][cin][1][1] float32 (batch norm folded in); may be read-only
     * @param bias       its [cout]
     * @param pWeight    the projection's [cout][pcin][1][1]
     * @param pBias      its [cout]
     */
    public ProjectedConvNhwc(ConvShape shape, MemorySegment weight, MemorySegment bias, ConvShape projection,
                             MemorySegment pWeight, MemorySegment pBias, Arena arena) {
        if (!supports(shape, projection)) {
            throw new IllegalArgumentException("ProjectedConvNhwc cannot run " + shape + " with the projection "
                    + projection + ": it needs 1x1 convolutions of one group without padding, the first of stride 1, "
                    + "the same output channels, a multiple of " + 2 * NRC + ", and 16-lane vectors");
        }
        this.shape = shape;
        this.projection = projection;
        this.cin = shape.cin();
        this.cout = shape.cout();
        this.pcin = projection.cin();
        this.stride = projection.stride();
        this.pairs = cout / (2 * NRC);
        shape.requireWeights("ProjectedConvNhwc", weight, bias);
        projection.requireWeights("ProjectedConvNhwc (projection)", pWeight, pBias);
        this.bias = arena.allocate(cout * 4L, 64);
        for (int c = 0; c < cout; c++) {
            this.bias.setAtIndex(ValueLayout.JAVA_FLOAT, c, bias.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, c)
                    + pBias.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, c));
        }
        this.packedW = ConvNhwc.packPanels(weight, cout, cin, 1, 2 * NRC, arena);
        this.packedP = ConvNhwc.packPanels(pWeight, cout, pcin, 1, 2 * NRC, arena);
        this.readAhead = READ_AHEAD && packedP.byteSize() >= ConvNhwc.TOUCH_MIN_BYTES;
    }

    /** The convolution's geometry (the projection's is {@link #projection()}). */
    @Override
    public ConvShape shape() {
        return shape;
    }

    /** The downsample fused in: a 1x1 of the residual, the block's input. */
    @Override
    public ConvShape projection() {
        return projection;
    }

    /** The packed weights (the convolution's; each tile reads the projection's after them). */
    @Override
    public MemorySegment weights() {
        return packedW;
    }

    @Override
    public String algorithm() {
        return "NHWC+PROJECTION";
    }

    // A thread's slot: the two tiles' sums, then a partial tile's rows of h.
    private long tileBytes() {
        return Simd.align64((long) WP * 2 * NRC * 4);
    }

    private long slotBytes() {
        return 2 * tileBytes() + Simd.align64((long) WP * cin * 4);
    }

    /** Bytes of 64-byte aligned scratch {@link #forward} needs on that many threads (the same for any input). */
    @Override
    public long scratchBytes(int n, int h, int w, int threads) {
        return (long) Math.max(1, threads) * slotBytes();
    }

    /**
     * As {@link #forward(MemorySegment, MemorySegment, MemorySegment, int, int, boolean, int, int, int, MemorySegment,
     * Parallel)} with the projection's input as large as h, which only a projection of stride 1 can take: at a
     * larger stride its input's size is needed, and this throws IllegalArgumentException.
     */
    @Override
    public void forward(MemorySegment h, MemorySegment out, MemorySegment x, boolean relu, int n, int oh, int ow,
                        MemorySegment scratch, Parallel par) {
        if (stride != 1) {
            throw new IllegalArgumentException("ProjectedConvNhwc " + shape + ": the projection " + projection
                    + " needs its input's height and width (forward with the residual's)");
        }
        forward(h, out, x, oh, ow, relu, n, oh, ow, scratch, par);
    }

    /**
     * {@code out = relu?(conv(h) + projection(x) + bias)}, and the zero pixel after out.
     *
     * @param h       NHWC [n][oh][ow][cin]
     * @param out     NHWC [n][oh][ow][cout] + one pixel; must not overlap h, x or the scratch
     * @param x       NHWC [n][xh][xw][pcin], the projection's input (the residual); (xh - 1) / stride + 1 must be
     *                oh, likewise ow
     * @param scratch at least {@link #scratchBytes} bytes, 64-byte aligned
     */
    @Override
    public void forward(MemorySegment h, MemorySegment out, MemorySegment x, int xh, int xw, boolean relu, int n,
                        int oh, int ow, MemorySegment scratch, Parallel par) {
        if (x == null) {
            throw new IllegalArgumentException("ProjectedConvNhwc " + shape + ": needs the projection's input "
                    + "as the residual, got null");
        }
        if (n < 1 || oh < 1 || ow < 1 || xh < 1 || xw < 1) {
            throw new IllegalArgumentException("ProjectedConvNhwc " + shape + ": needs n, h, w >= 1, got n=" + n
                    + " h=" + oh + " w=" + ow + ", projection input " + xh + "x" + xw);
        }
        if (projection.outH(xh) != oh || projection.outW(xw) != ow) {
            throw new IllegalArgumentException("ProjectedConvNhwc " + shape + ": the projection " + projection
                    + " makes " + projection.outH(xh) + "x" + projection.outW(xw) + " of its " + xh + "x" + xw
                    + " input, the convolution's input is " + oh + "x" + ow);
        }
        long pixels = (long) n * oh * ow;
        if (h.byteSize() < pixels * cin * 4 || x.byteSize() < (long) n * xh * xw * pcin * 4
                || out.byteSize() < (pixels + 1) * cout * 4) {
            throw new IllegalArgumentException("ProjectedConvNhwc " + shape + ": for n=" + n + " h=" + oh + " w=" + ow
                    + " the input needs " + pixels * cin + " floats (has " + h.byteSize() / 4 + "), the projection's "
                    + (long) n * xh * xw * pcin + " (has " + x.byteSize() / 4 + "), the output " + (pixels + 1) * cout
                    + " (has " + out.byteSize() / 4 + ")");
        }
        if (pixels > Integer.MAX_VALUE / 2 || (long) n * xh * xw * pcin * 4 > Long.MAX_VALUE / 2) {
            throw new IllegalArgumentException("ProjectedConvNhwc " + shape + ": n=" + n + " h=" + oh + " w=" + ow
                    + " has too many pixels");
        }
        long need = scratchBytes(n, oh, ow, par.threads());
        if (scratch.byteSize() < need) {
            throw new IllegalArgumentException("ProjectedConvNhwc " + shape + ": scratch of " + scratch.byteSize()
                    + " bytes, needs " + need + " for threads=" + par.threads());
        }
        synchronized (job) {
            ConvNhwc.zeroPixel(out, pixels * cout, cout);
            Job j = job;
            j.x = x;
            j.plane = oh * ow;
            j.ow = ow;
            j.xh = xh;
            j.xw = xw;
            j.run(h, out, null, relu, scratch, 0, slotBytes(), (int) pixels, (int) ((pixels + WP - 1) / WP), pairs,
                    par);
            j.x = null;
        }
    }

    /** The tiles of 6 consecutive pixels by pairs of panels (see the class comment). */
    private final class Job extends ConvNhwc.BlockJob {
        MemorySegment x;
        int plane, ow, xh, xw;

        @Override
        void task(int pair, int block, long tmp) {
            long wOff = (long) pair * cin * 2 * NRC * 4, pOff = (long) pair * pcin * 2 * NRC * 4;
            long bOff = (long) 2 * pair * NRC * 4;
            long lda = cin * 4L, ldc = cout * 4L, ldt = 2 * NRC * 4L;
            long sumP = tmp + tileBytes(), rows = tmp + 2 * tileBytes();
            int t0 = block * tilesPerTask, t1 = Math.min(tiles, (block + 1) * tilesPerTask);
            int full = pixels / WP;
            for (int t = t0; t < t1; t++) {
                int p0 = t * WP, valid = Math.min(WP, pixels - p0);
                long aOff = (long) p0 * lda;
                MemorySegment src = a;
                if (valid < WP) { // the last tile: its rows of h copied (the rows after them hold whatever they held)
                    MemorySegment.copy(a, aOff, scratch, rows, valid * lda);
                    src = scratch;
                    aOff = rows;
                }
                ConvNhwc.kernel6x4(src, aOff, lda, cin, packedW, wOff, scratch, tmp, ldt);
                // the projection's rows: pixel p reads x at (row, column) times the stride; rows past the last
                // pixel repeat it (their sums are dropped)
                long x0 = xOffset(p0), x1 = xOffset(Math.min(p0 + 1, pixels - 1));
                long x2 = xOffset(Math.min(p0 + 2, pixels - 1)), x3 = xOffset(Math.min(p0 + 3, pixels - 1));
                long x4 = xOffset(Math.min(p0 + 4, pixels - 1)), x5 = xOffset(Math.min(p0 + 5, pixels - 1));
                if (readAhead) {
                    ConvNhwc.kernel6x4Ahead(x, x0, x1, x2, x3, x4, x5, pcin, packedP, pOff, scratch, sumP, ldt,
                            ConvNhwc.touchAhead(packedP, pOff, pcin, t - t0));
                } else {
                    ConvNhwc.kernel6x4(x, x0, x1, x2, x3, x4, x5, pcin, packedP, pOff, scratch, sumP, ldt);
                }
                // the tile's sums plus the projection's, as the residual, plus the bias
                ConvNhwc.finishWide(bias, bOff, scratch, tmp, ldt, out, (long) p0 * ldc + bOff, ldc, scratch, sumP,
                        ldt, relu, t < full ? WP : valid);
            }
        }

        /** Byte offset in x of the pixel output pixel p's projection reads. */
        private long xOffset(int p) {
            int img = p / plane, q = p - img * plane, oy = q / ow, ox = q - oy * ow;
            return (((long) img * xh + (long) oy * stride) * xw + (long) ox * stride) * pcin * 4;
        }
    }
}
