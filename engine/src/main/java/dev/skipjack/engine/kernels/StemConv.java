package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.Gemm.F32;

import dev.skipjack.engine.runtime.Parallel;
import dev.skipjack.engine.runtime.Shares;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A convolution of an NCHW input with few channels (the stem: 3 -> 64, 7x7, stride 2, padding 3) into
 * channels-last activations: {@code out[p][co] = relu?(bias[co] + sum_{ci, ky, kx} in[ci][y + ky][x + kx] W[co][ci][ky][kx])}.
 *
 * <p>Layouts: in NCHW {@code [n][cin][h][w]}; out NHWC {@code [n][oh][ow][cout]} followed by one pixel of zeros
 * (see {@link ConvNhwc}); weights packed {@code [panel][kx][ky][ci][NRC]}.
 *
 * <p>One task per output row: it first gathers the k input rows that row's windows read into
 * {@code R [x][ky][ci]} (x over the padded width, zeros in the padding), where the window of output pixel ox is
 * the k * k * cin contiguous floats from {@code R[ox * stride]}: its depth steps in the order (kx, ky, ci). Then
 * ConvNhwc's micro-kernel runs each tile of MP pixels of the row, all depth steps in one call, for each panel
 * of NRC output channels, and bias and ReLU go into out. R is a stride-2 row's 21 floats per input column
 * (19 KB for the stem), an im2col of the row would be 147 per output pixel.
 *
 * <p>Why not ConvNhwc: with 3 input channels its one call per tap would run 3 depth steps a call. Why not the
 * depth step's input offset from a table inside the kernel: the loads then depend on a loaded offset, their
 * bounds checks stay in the loop, and it ran at 42% of a core's peak. A full im2col ({@code [pixel][147]}) cost
 * 0.6 ms a stem on one core to write.
 */
public final class StemConv implements ConvKernel {
    private static final int MP = ConvNhwc.MP;
    private static final int NRC = ConvNhwc.NRC;

    /**
     * Rows split statically, each thread a fixed share (as the max pool after it): ResNet-50 2% faster than rows
     * claimed from a counter (two engines alternating), ResNet-18 within noise. For experiments.
     */
    static final boolean STATIC = !"false".equals(System.getProperty("skipjack.stem.static"));
    private final ConvShape shape;
    private final int ks, stride, pad, cin, cout, depth, panels;
    // [panels][kx][ky][ci][NRC]
    private final MemorySegment packedW;
    // [cout]
    private final MemorySegment bias;
    private final Job job = new Job();

    /**
     * Packs the weights once into {@code arena}.
     *
     * @param shape  one group, a kernel no wider than a vector, cout a multiple of {@link ConvNhwc#NRC} (see
     *               {@link #supports})
     * @param weight [cout][cin][k][k] float32 (OIHW, batch norm folded in); may be read-only
     * @param bias   [cout] float32; may be read-only
     */
    public StemConv(ConvShape shape, MemorySegment weight, MemorySegment bias, Arena arena) {
        if (!supports(shape)) {
            throw new IllegalArgumentException("StemConv cannot run " + shape + ": it needs one group and cout a "
                    + "multiple of " + NRC);
        }
        this.shape = shape;
        this.ks = shape.kernel();
        this.stride = shape.stride();
        this.pad = shape.pad();
        this.cin = shape.cin();
        this.cout = shape.cout();
        this.depth = cin * ks * ks;
        this.panels = cout / NRC;
        long wFloats = (long) cout * depth;
        shape.requireWeights("StemConv", weight, bias);
        this.bias = arena.allocate(cout * 4L, 64);
        MemorySegment.copy(bias, 0, this.bias, 0, cout * 4L);
        this.packedW = arena.allocate(wFloats * 4, 64);
        float[] rows = new float[NRC * depth];
        float[] panel = new float[NRC * depth];
        for (int p = 0; p < panels; p++) {
            MemorySegment.copy(weight, ValueLayout.JAVA_FLOAT_UNALIGNED, (long) p * NRC * depth * 4, rows, 0,
                    NRC * depth);
            for (int c = 0; c < NRC; c++) {
                for (int ci = 0; ci < cin; ci++) {
                    for (int ky = 0; ky < ks; ky++) {
                        for (int kx = 0; kx < ks; kx++) {
                            panel[((kx * ks + ky) * cin + ci) * NRC + c] = rows[c * depth + (ci * ks + ky) * ks + kx];
                        }
                    }
                }
            }
            MemorySegment.copy(panel, 0, packedW, ValueLayout.JAVA_FLOAT_UNALIGNED, (long) p * NRC * depth * 4,
                    NRC * depth);
        }
    }

    /** Whether this kernel can run {@code shape}: what ConvNhwc's tiles need (one group, cout a multiple of NRC). */
    public static boolean supports(ConvShape shape) {
        return ConvNhwc.supports(shape);
    }

    @Override
    public ConvShape shape() {
        return shape;
    }

    @Override
    public String algorithm() {
        return "NCHW>NHWC-ROWS";
    }

    private static long align64(long bytes) {
        return (bytes + 63) & ~63L;
    }

    // Scratch: the micro-kernel's row table (MP ints, 64 bytes), then per thread R [wp][k][cin] (with room for
    // the windows of a partial last tile's MP - 1 extra pixels) and an MP x NRC tile for that tile.
    private long rBytes(int w) {
        return align64(((long) (w + 2 * pad) + (long) (MP - 1) * stride) * ks * cin * 4);
    }

    private long slotBytes(int w) {
        return rBytes(w) + (long) MP * NRC * 4;
    }

    @Override
    public long scratchBytes(int n, int h, int w, int threads) {
        return 64 + (long) Math.max(1, threads) * slotBytes(w);
    }

    /**
     * {@code out = relu?(conv(in) + bias)}, and the zero pixel after out. No residual.
     *
     * @param in      NCHW [n][cin][h][w]
     * @param out     NHWC [n][oh][ow][cout] + one pixel; must not overlap {@code in} or the scratch
     * @param scratch at least {@link #scratchBytes}{@code (n, h, w, par.threads())} bytes, 64-byte aligned
     */
    @Override
    public void forward(MemorySegment in, MemorySegment out, MemorySegment residual, boolean relu,
                        int n, int h, int w, MemorySegment scratch, Parallel par) {
        if (residual != null) {
            throw new IllegalArgumentException("StemConv " + shape + " adds no residual");
        }
        if (n < 1) {
            throw new IllegalArgumentException("StemConv " + shape + ": batch must be >= 1, got " + n);
        }
        int oh = shape.outH(h), ow = shape.outW(w);
        long pixels = (long) n * oh * ow;
        long need = scratchBytes(n, h, w, par.threads());
        if (scratch.byteSize() < need) {
            throw new IllegalArgumentException("StemConv " + shape + ": scratch of " + scratch.byteSize()
                    + " bytes, needs " + need + " for n=" + n + " h=" + h + " w=" + w + " threads=" + par.threads());
        }
        if (in.byteSize() < (long) n * cin * h * w * 4 || out.byteSize() < (pixels + 1) * cout * 4) {
            throw new IllegalArgumentException("StemConv " + shape + ": for n=" + n + " h=" + h + " w=" + w
                    + " the input needs " + (long) n * cin * h * w + " floats (has " + in.byteSize() / 4
                    + "), the output " + (pixels + 1) * cout + " (has " + out.byteSize() / 4 + ")");
        }
        if (need / 4 > Integer.MAX_VALUE) { // the micro-kernel takes int float offsets into the scratch
            throw new IllegalArgumentException("StemConv " + shape + ": n=" + n + " h=" + h + " w=" + w
                    + " needs more than 2^31 - 1 floats of scratch");
        }
        synchronized (job) {
            Job j = job;
            j.in = in;
            j.out = out;
            j.scratch = scratch;
            j.relu = relu;
            j.h = h;
            j.w = w;
            j.wp = w + 2 * pad;
            j.oh = oh;
            j.ow = ow;
            j.rows = n * oh;
            j.slotBytes = slotBytes(w);
            for (int i = 0; i < MP; i++) { // row i of a register tile: i pixels on, stride input columns apart in R
                scratch.set(ValueLayout.JAVA_INT_UNALIGNED, i * 4L, i * stride * ks * cin);
            }
            j.next.set(0);
            j.parts = Math.min(par.threads(), j.rows);
            j.shares.reset(j.rows, j.parts);
            try {
                par.forEach(j.parts, j);
            } finally {
                j.in = j.out = j.scratch = null;
            }
            ConvNhwc.zeroPixel(out, pixels * cout, cout);
        }
    }

    /** One task per output row (image, oy): a fixed share of the rows per thread, or claimed from {@link #next}. */
    private final class Job implements Parallel.Task {
        MemorySegment in, out, scratch;
        boolean relu;
        int h, w, wp, oh, ow, rows, parts;
        final Shares shares = new Shares();
        long slotBytes;
        final AtomicInteger next = new AtomicInteger();

        @Override
        public void run(int slot) {
            long r = 64 + slot * slotBytes;
            if (STATIC) { // this part's share of the rows (then what is left of the other's)
                for (int row; (row = shares.claim(slot)) >= 0; ) {
                    row(row / oh, row % oh, r);
                }
                return;
            }
            for (int row; (row = next.getAndIncrement()) < rows; ) {
                row(row / oh, row % oh, r);
            }
        }

        private void row(int img, int oy, long r) {
            gather(img, oy, r);
            long tmp = r + rBytes(w);
            int base = (int) (r / 4);
            long pixel0 = ((long) img * oh + oy) * ow;
            for (int panel = 0; panel < panels; panel++) {
                long wOff = (long) panel * depth * NRC * 4;
                for (int ox = 0; ox < ow; ox += MP) {
                    int valid = Math.min(MP, ow - ox);
                    long o = ((pixel0 + ox) * cout + (long) panel * NRC) * 4;
                    int a = base + ox * stride * ks * cin;
                    long bOff = (long) panel * NRC * 4;
                    if (valid == MP) {
                        ConvNhwc.kernel(scratch, scratch, 0, a, depth, packedW, wOff, out, o, cout * 4L);
                        ConvNhwc.finish(bias, bOff, out, o, cout * 4L, out, o, cout * 4L, null, relu, MP);
                    } else { // pixels past the row read R's later columns (or past it, in the slot); dropped
                        ConvNhwc.kernel(scratch, scratch, 0, a, depth, packedW, wOff, scratch, tmp, NRC * 4L);
                        ConvNhwc.finish(bias, bOff, scratch, tmp, NRC * 4L, out, o, cout * 4L, null, relu, valid);
                    }
                }
            }
        }

        /** R [x][ky][ci] at r: the padded input column x of row oy * stride - pad + ky, zero in the padding. */
        private void gather(int img, int oy, long r) {
            int kc = ks * cin;
            for (int ky = 0; ky < ks; ky++) {
                int y = oy * stride - pad + ky;
                for (int ci = 0; ci < cin; ci++) {
                    long d = r + (long) (ky * cin + ci) * 4;
                    if (y < 0 || y >= h) {
                        for (int x = 0; x < wp; x++, d += kc * 4L) {
                            scratch.set(F32, d, 0f);
                        }
                        continue;
                    }
                    long src = (((long) img * cin + ci) * h + y) * w * 4;
                    int x = 0;
                    for (; x < pad; x++, d += kc * 4L) {
                        scratch.set(F32, d, 0f);
                    }
                    for (; x < pad + w; x++, d += kc * 4L, src += 4) {
                        scratch.set(F32, d, in.get(F32, src));
                    }
                    for (; x < wp; x++, d += kc * 4L) {
                        scratch.set(F32, d, 0f);
                    }
                }
            }
        }
    }
}
