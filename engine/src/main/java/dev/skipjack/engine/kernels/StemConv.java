package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.Gemm.F32;
import static dev.skipjack.engine.kernels.Gemm.LE;

import dev.skipjack.engine.runtime.Parallel;
import dev.skipjack.engine.runtime.Shares;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * A convolution of an NCHW input with few channels (the stem: 3 -> 64, 7x7, stride 2, padding 3) into
 * channels-last activations: {@code out[p][co] = relu?(bias[co] + sum_{ci, ky, kx} in[ci][y + ky][x + kx] W[co][ci][ky][kx])}.
 *
 * <p>Layouts: in NCHW {@code [n][cin][h][w]}; out NHWC {@code [n][oh][ow][cout]} followed by one pixel of zeros
 * (see {@link ConvNhwc}); weights packed {@code [panel][ky][kx][ci][NRC]}.
 *
 * <p>Image by image, two passes. First the image, channels-last and zero-padded, into the scratch: {@code P [hp][wp][cin]}
 * (hp = h + 2 pad, wp = w + 2 pad). There a window row is one run of k * cin contiguous floats, and the MP
 * pixels of a register tile start stride * cin floats apart. Then per output row and panel of NRC output
 * channels, each tile of MP pixels is one call of a micro-kernel that walks the k window rows (a fixed row
 * stride) and in each the run of k * cin depth steps, reading P in place, then bias and ReLU into out.
 *
 * <p>Why not ConvNhwc: with 3 input channels its one call per tap would run 3 depth steps a call. Measured
 * against other versions (7x7/2 3 -> 64 at 224x224): each output row's k input rows gathered into
 * {@code [x][ky][ci]} (scalar, 21 floats an input column, 0.31 ms of a stem on one core) so that a window was
 * one run of 147 floats for ConvNhwc's micro-kernel: 1.50-1.58 ms on one core against 1.35-1.39 for this; each
 * output row's windows copied out of P by whole vectors first (an im2col of the row): 1.11-1.21 ms on 2 threads
 * against 0.92-0.95; the depth step's input offset from a table inside the kernel (the loads then depend on a
 * loaded offset, their bounds checks stay in the loop): 42% of a core's peak. Fused with the max pool after it
 * (the rows through a ring per thread): within noise, not kept.
 */
public final class StemConv implements ConvKernel {
    private static final VectorSpecies<Float> S = Gemm.S;
    private static final long VB = Gemm.VB;
    private static final int L = Gemm.L;
    private static final int MP = ConvNhwc.MP;
    private static final int NRC = ConvNhwc.NRC;
    // Interleaving three channels of L pixels (PadJob): output vector k, lane j, is element k * L + j of
    // [pixel][channel], i.e. channel (k L + j) % 3 of pixel (k L + j) / 3. Fkc moves channel c's pixels to those
    // lanes, Tkc marks the lanes that are channel c's. Constants each (not arrays of them): C2 intrinsifies a
    // rearrange or blend only when it knows the shuffle's or mask's class, and from an array element it did not
    // in every run (a CI run's inferences allocated 1.8 MB each, AllocationFreeTest).
    private static final VectorShuffle<Float> F00 = interleave(0, 0), F01 = interleave(0, 1), F02 = interleave(0, 2);
    private static final VectorShuffle<Float> F10 = interleave(1, 0), F11 = interleave(1, 1), F12 = interleave(1, 2);
    private static final VectorShuffle<Float> F20 = interleave(2, 0), F21 = interleave(2, 1), F22 = interleave(2, 2);
    private static final VectorMask<Float> T01 = lanesOf(0, 1), T02 = lanesOf(0, 2);
    private static final VectorMask<Float> T11 = lanesOf(1, 1), T12 = lanesOf(1, 2);
    private static final VectorMask<Float> T21 = lanesOf(2, 1), T22 = lanesOf(2, 2);

    private static VectorShuffle<Float> interleave(int k, int c) {
        int[] idx = new int[L];
        for (int j = 0; j < L; j++) {
            int e = k * L + j;
            idx[j] = e % 3 == c ? e / 3 : 0;
        }
        return VectorShuffle.fromArray(S, idx, 0);
    }

    private static VectorMask<Float> lanesOf(int k, int c) {
        boolean[] bits = new boolean[L];
        for (int j = 0; j < L; j++) {
            bits[j] = (k * L + j) % 3 == c;
        }
        return VectorMask.fromArray(S, bits, 0);
    }

    private final ConvShape shape;
    private final int ks, stride, pad, cin, cout, depth, panels;
    /**
     * Whether the tiles are 6 pixels by 64 channels on {@link #kernel6x4} (16-lane vectors, cout a multiple of
     * 64: ResNet's stem), else MP pixels by NRC channels. The stem alone (224 x 224, alternating processes): one
     * core 1.44-1.51 ms against 1.65 (and 3.1-3.3 in two of three runs of the 7x2 build), 2 threads 0.78-0.79
     * against 0.85.
     */
    private final boolean wide;
    // [panels][ky][kx][ci][width], width = 2 NRC where wide, else NRC
    private final MemorySegment packedW;
    // [cout]
    private final MemorySegment bias;
    private final PadJob padJob = new PadJob();
    private final Job job = new Job();

    /**
     * Packs the weights once into {@code arena}.
     *
     * @param shape  one group, cout a multiple of {@link ConvNhwc#NRC} (see {@link #supports})
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
        this.wide = ConvNhwc.WIDE && L >= 16 && cout % (2 * NRC) == 0;
        int width = wide ? 2 * NRC : NRC;
        this.panels = cout / width;
        shape.requireWeights("StemConv", weight, bias);
        this.bias = arena.allocate(cout * 4L, 64);
        MemorySegment.copy(bias, 0, this.bias, 0, cout * 4L);
        // [ky][kx] is ConvNhwc's tap ky * ks + kx
        this.packedW = ConvNhwc.packPanels(weight, cout, cin, ks * ks, width, arena);
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
        return "NCHW>NHWC-PADDED";
    }

    // Scratch: P [hp][wp][cin] (one image at a time), with room after it for the windows of a partial last tile's MP - 1 extra
    // pixels (read, their results dropped), then per thread an MP x NRC tile for that tile.
    private long padBytes(int h, int w) {
        return Simd.align64(((long) (h + 2 * pad) * (w + 2 * pad) + (long) MP * stride) * cin * 4);
    }

    /** A thread's tile for a partial last tile: MP x NRC floats, or WP x 2 NRC where {@link #wide}. */
    private long tileBytes() {
        return wide ? (long) ConvNhwc.WP * 2 * NRC * 4 : (long) MP * NRC * 4;
    }

    @Override
    public long scratchBytes(int n, int h, int w, int threads) {
        return padBytes(h, w) + (long) Math.max(1, threads) * tileBytes();
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
        int hp = h + 2 * pad, wp = w + 2 * pad;
        synchronized (job) {
            PadJob pj = padJob;
            pj.in = in;
            pj.scratch = scratch;
            pj.h = h;
            pj.w = w;
            pj.rows = hp;
            pj.parts = Math.min(par.threads(), pj.rows);
            Job j = job;
            j.out = out;
            j.scratch = scratch;
            j.relu = relu;
            j.hp = hp;
            j.wp = wp;
            j.oh = oh;
            j.ow = ow;
            j.rows = oh;
            j.tmp0 = padBytes(h, w);
            j.parts = Math.min(par.threads(), j.rows);
            try {
                // Image by image: P is one image's (623 KB instead of 4.9 MB of scratch at batch 8), at the cost of
                // two barriers an image; a batch of 8 in 1.006-1.008 of the time of one P for the batch.
                for (int img = 0; img < n; img++) {
                    pj.img = img;
                    j.img = img;
                    j.shares.reset(j.rows, j.parts);
                    par.forEach(pj.parts, pj);
                    par.forEach(j.parts, j);
                }
            } finally {
                pj.in = pj.scratch = j.out = j.scratch = null;
            }
            ConvNhwc.zeroPixel(out, pixels * cout, cout);
        }
    }

    /**
     * P [yp][xp][ci] = in[img][ci][yp - pad][xp - pad] for image img, zero in the padding: a share of the padded
     * rows per part (the last part also zeroes the slack after P).
     */
    private final class PadJob implements Parallel.Task {
        MemorySegment in, scratch;
        int h, w, rows, parts, img;

        @Override
        public void run(int part) {
            int hp = h + 2 * pad, wp = w + 2 * pad;
            long rowBytes = (long) wp * cin * 4;
            for (int row = (int) ((long) rows * part / parts), end = (int) ((long) rows * (part + 1) / parts);
                    row < end; row++) {
                int y = row - pad;
                long d = row * rowBytes;
                if (y < 0 || y >= h) {
                    ConvNhwc.zeroPixel(scratch, d / 4, wp * cin);
                    continue;
                }
                ConvNhwc.zeroPixel(scratch, d / 4, pad * cin);
                ConvNhwc.zeroPixel(scratch, d / 4 + (long) (pad + w) * cin, pad * cin);
                int x0 = 0;
                long plane = (long) h * w * 4;
                long src0 = (((long) img * cin) * h + y) * w * 4;
                if (cin == 3) { // L pixels at a time
                    for (long dst = d + (long) pad * cin * 4; x0 + L <= w; x0 += L, dst += 3 * VB) {
                        interleave3(in, src0 + x0 * 4L, plane, scratch, dst);
                    }
                }
                for (int ci = 0; ci < cin; ci++) {
                    long src = src0 + ci * plane + x0 * 4L;
                    long dst = d + ((long) (pad + x0) * cin + ci) * 4;
                    for (int x = x0; x < w; x++, src += 4, dst += cin * 4L) {
                        scratch.set(F32, dst, in.get(F32, src));
                    }
                }
            }
            if (part == parts - 1) {
                ConvNhwc.zeroPixel(scratch, rows * rowBytes / 4, MP * stride * cin);
            }
        }
    }

    /**
     * Three channel vectors of L pixels (at byte src of in, plane bytes apart) into 3 L interleaved floats
     * [pixel][channel] at byte dst of out. A method of its own, straight-line code: inside PadJob's loop C2 kept
     * it boxed in some runs (see the constants above).
     */
    static void interleave3(MemorySegment in, long src, long plane, MemorySegment out, long dst) {
        FloatVector c0 = FloatVector.fromMemorySegment(S, in, src, LE);
        FloatVector c1 = FloatVector.fromMemorySegment(S, in, src + plane, LE);
        FloatVector c2 = FloatVector.fromMemorySegment(S, in, src + 2 * plane, LE);
        c0.rearrange(F00).blend(c1.rearrange(F01), T01).blend(c2.rearrange(F02), T02).intoMemorySegment(out, dst, LE);
        c0.rearrange(F10).blend(c1.rearrange(F11), T11).blend(c2.rearrange(F12), T12)
                .intoMemorySegment(out, dst + VB, LE);
        c0.rearrange(F20).blend(c1.rearrange(F21), T21).blend(c2.rearrange(F22), T22)
                .intoMemorySegment(out, dst + 2 * VB, LE);
    }

    /** One task per output row of image img: a fixed share of the rows per thread, then what is left of the other's. */
    private final class Job implements Parallel.Task {
        MemorySegment out, scratch;
        boolean relu;
        int hp, wp, oh, ow, rows, parts, img;
        long tmp0;
        final Shares shares = new Shares();

        @Override
        public void run(int slot) {
            long tmp = tmp0 + (long) slot * tileBytes();
            for (int row; (row = shares.claim(slot)) >= 0; ) {
                row(img, row, tmp);
            }
        }

        private void row(int img, int oy, long tmp) {
            long px = (long) stride * cin * 4, rowStride = (long) wp * cin * 4;
            long first = (long) oy * stride * rowStride; // window row 0 of pixel 0, in this image's P
            long pixel0 = ((long) img * oh + oy) * ow;
            int run = ks * cin;
            int tile = wide ? ConvNhwc.WP : MP, width = wide ? 2 * NRC : NRC;
            long ldc = cout * 4L, ldt = width * 4L;
            for (int panel = 0; panel < panels; panel++) {
                long wOff = (long) panel * depth * width * 4;
                long bOff = (long) panel * width * 4;
                for (int ox = 0; ox < ow; ox += tile) {
                    int valid = Math.min(tile, ow - ox);
                    long o = (pixel0 + ox) * ldc + bOff;
                    long a = first + ox * px;
                    // a whole tile straight into out; a partial one into tmp (pixels past the row read P's next
                    // columns or the slack after P; dropped)
                    boolean whole = valid == tile;
                    MemorySegment c = whole ? out : scratch;
                    long cOff = whole ? o : tmp, ld = whole ? ldc : ldt;
                    if (wide) {
                        kernel6x4(scratch, a, px, rowStride, ks, run, packedW, wOff, c, cOff, ld);
                    } else {
                        kernel(scratch, a, px, rowStride, ks, run, packedW, wOff, c, cOff, ld);
                    }
                    for (int v = 0; v < width; v += NRC) {
                        ConvNhwc.finish(bias, bOff + v * 4L, c, cOff + v * 4L, ld, out, o + v * 4L, ldc, null, relu,
                                valid);
                    }
                }
            }
        }
    }

    /**
     * {@link ConvNhwc#WP} pixels by four vectors of output channels (weights [depth][2 NRC] from wOff), the depth
     * walked as in {@link #kernel7x2}; ConvNhwc's 6x4 tile (see {@link ConvNhwc#kernel6x4}).
     */
    static void kernel6x4(MemorySegment a, long aOff, long px, long rowStride, int windowRows, int run,
                          MemorySegment w, long wOff, MemorySegment c, long cOff, long ldc) {
        FloatVector c00 = FloatVector.zero(S);
        FloatVector c01 = FloatVector.zero(S);
        FloatVector c02 = FloatVector.zero(S);
        FloatVector c03 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S);
        FloatVector c11 = FloatVector.zero(S);
        FloatVector c12 = FloatVector.zero(S);
        FloatVector c13 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S);
        FloatVector c21 = FloatVector.zero(S);
        FloatVector c22 = FloatVector.zero(S);
        FloatVector c23 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S);
        FloatVector c31 = FloatVector.zero(S);
        FloatVector c32 = FloatVector.zero(S);
        FloatVector c33 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S);
        FloatVector c41 = FloatVector.zero(S);
        FloatVector c42 = FloatVector.zero(S);
        FloatVector c43 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S);
        FloatVector c51 = FloatVector.zero(S);
        FloatVector c52 = FloatVector.zero(S);
        FloatVector c53 = FloatVector.zero(S);
        long a1 = aOff + px, a2 = a1 + px, a3 = a2 + px, a4 = a3 + px, a5 = a4 + px;
        long ko = 0, jump = rowStride - run * 4L;
        int depth = windowRows * run;
        for (int k = 0, j = 0; k < depth; k++, ko += 4) {
            if (j == run) {
                j = 0;
                ko += jump;
            }
            j++;
            long wo = wOff + (long) k * (4 * VB);
            FloatVector v0 = FloatVector.fromMemorySegment(S, w, wo, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(S, w, wo + 2 * VB, LE);
            FloatVector v3 = FloatVector.fromMemorySegment(S, w, wo + 3 * VB, LE);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, aOff + ko));
            c00 = v0.fma(av, c00);
            c01 = v1.fma(av, c01);
            c02 = v2.fma(av, c02);
            c03 = v3.fma(av, c03);
            av = FloatVector.broadcast(S, a.get(F32, a1 + ko));
            c10 = v0.fma(av, c10);
            c11 = v1.fma(av, c11);
            c12 = v2.fma(av, c12);
            c13 = v3.fma(av, c13);
            av = FloatVector.broadcast(S, a.get(F32, a2 + ko));
            c20 = v0.fma(av, c20);
            c21 = v1.fma(av, c21);
            c22 = v2.fma(av, c22);
            c23 = v3.fma(av, c23);
            av = FloatVector.broadcast(S, a.get(F32, a3 + ko));
            c30 = v0.fma(av, c30);
            c31 = v1.fma(av, c31);
            c32 = v2.fma(av, c32);
            c33 = v3.fma(av, c33);
            av = FloatVector.broadcast(S, a.get(F32, a4 + ko));
            c40 = v0.fma(av, c40);
            c41 = v1.fma(av, c41);
            c42 = v2.fma(av, c42);
            c43 = v3.fma(av, c43);
            av = FloatVector.broadcast(S, a.get(F32, a5 + ko));
            c50 = v0.fma(av, c50);
            c51 = v1.fma(av, c51);
            c52 = v2.fma(av, c52);
            c53 = v3.fma(av, c53);
        }
        c00.intoMemorySegment(c, cOff, LE);
        c01.intoMemorySegment(c, cOff + VB, LE);
        c02.intoMemorySegment(c, cOff + 2 * VB, LE);
        c03.intoMemorySegment(c, cOff + 3 * VB, LE);
        c10.intoMemorySegment(c, cOff + ldc, LE);
        c11.intoMemorySegment(c, cOff + ldc + VB, LE);
        c12.intoMemorySegment(c, cOff + ldc + 2 * VB, LE);
        c13.intoMemorySegment(c, cOff + ldc + 3 * VB, LE);
        c20.intoMemorySegment(c, cOff + 2 * ldc, LE);
        c21.intoMemorySegment(c, cOff + 2 * ldc + VB, LE);
        c22.intoMemorySegment(c, cOff + 2 * ldc + 2 * VB, LE);
        c23.intoMemorySegment(c, cOff + 2 * ldc + 3 * VB, LE);
        c30.intoMemorySegment(c, cOff + 3 * ldc, LE);
        c31.intoMemorySegment(c, cOff + 3 * ldc + VB, LE);
        c32.intoMemorySegment(c, cOff + 3 * ldc + 2 * VB, LE);
        c33.intoMemorySegment(c, cOff + 3 * ldc + 3 * VB, LE);
        c40.intoMemorySegment(c, cOff + 4 * ldc, LE);
        c41.intoMemorySegment(c, cOff + 4 * ldc + VB, LE);
        c42.intoMemorySegment(c, cOff + 4 * ldc + 2 * VB, LE);
        c43.intoMemorySegment(c, cOff + 4 * ldc + 3 * VB, LE);
        c50.intoMemorySegment(c, cOff + 5 * ldc, LE);
        c51.intoMemorySegment(c, cOff + 5 * ldc + VB, LE);
        c52.intoMemorySegment(c, cOff + 5 * ldc + 2 * VB, LE);
        c53.intoMemorySegment(c, cOff + 5 * ldc + 3 * VB, LE);
    }

    static void kernel(MemorySegment a, long aOff, long px, long rowStride, int windowRows, int run, MemorySegment w,
                       long wOff, MemorySegment c, long cOff, long ldc) {
        if (MP == 7) {
            kernel7x2(a, aOff, px, rowStride, windowRows, run, w, wOff, c, cOff, ldc);
        } else {
            kernel6x2(a, aOff, px, rowStride, windowRows, run, w, wOff, c, cOff, ldc);
        }
    }

    // The micro-kernels: MP pixels (px bytes apart in a) by two vectors of output channels, over windowRows
    // runs of run depth steps, rowStride bytes apart in a; the weights' depth steps consecutive. ConvNhwc's
    // kernels with the table replaced by a fixed pixel stride, and one flat loop over the depth whose input
    // offset jumps to the next window row after each run. One core, the stem with the P pass included: 0.88-0.91
    // of the time of the gathered rows; a loop per window row (7 inner loops of 21 steps, each with C2's loop
    // set-up around it) 1.1-1.6 times that time.
    static void kernel7x2(MemorySegment a, long aOff, long px, long rowStride, int windowRows, int run,
                          MemorySegment w, long wOff, MemorySegment c, long cOff, long ldc) {
        FloatVector c00 = FloatVector.zero(S);
        FloatVector c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S);
        FloatVector c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S);
        FloatVector c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S);
        FloatVector c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S);
        FloatVector c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S);
        FloatVector c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S);
        FloatVector c61 = FloatVector.zero(S);
        long a1 = aOff + px, a2 = a1 + px, a3 = a2 + px, a4 = a3 + px, a5 = a4 + px, a6 = a5 + px;
        long ko = 0, jump = rowStride - run * 4L;
        int depth = windowRows * run;
        for (int k = 0, j = 0; k < depth; k++, ko += 4) {
            if (j == run) {
                j = 0;
                ko += jump;
            }
            j++;
            long wo = wOff + (long) k * (2 * VB);
            FloatVector w0 = FloatVector.fromMemorySegment(S, w, wo, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, aOff + ko));
            c00 = w0.fma(av, c00);
            c01 = w1.fma(av, c01);
            av = FloatVector.broadcast(S, a.get(F32, a1 + ko));
            c10 = w0.fma(av, c10);
            c11 = w1.fma(av, c11);
            av = FloatVector.broadcast(S, a.get(F32, a2 + ko));
            c20 = w0.fma(av, c20);
            c21 = w1.fma(av, c21);
            av = FloatVector.broadcast(S, a.get(F32, a3 + ko));
            c30 = w0.fma(av, c30);
            c31 = w1.fma(av, c31);
            av = FloatVector.broadcast(S, a.get(F32, a4 + ko));
            c40 = w0.fma(av, c40);
            c41 = w1.fma(av, c41);
            av = FloatVector.broadcast(S, a.get(F32, a5 + ko));
            c50 = w0.fma(av, c50);
            c51 = w1.fma(av, c51);
            av = FloatVector.broadcast(S, a.get(F32, a6 + ko));
            c60 = w0.fma(av, c60);
            c61 = w1.fma(av, c61);
        }
        c00.intoMemorySegment(c, cOff, LE);
        c01.intoMemorySegment(c, cOff + VB, LE);
        c10.intoMemorySegment(c, cOff + ldc, LE);
        c11.intoMemorySegment(c, cOff + ldc + VB, LE);
        c20.intoMemorySegment(c, cOff + 2 * ldc, LE);
        c21.intoMemorySegment(c, cOff + 2 * ldc + VB, LE);
        c30.intoMemorySegment(c, cOff + 3 * ldc, LE);
        c31.intoMemorySegment(c, cOff + 3 * ldc + VB, LE);
        c40.intoMemorySegment(c, cOff + 4 * ldc, LE);
        c41.intoMemorySegment(c, cOff + 4 * ldc + VB, LE);
        c50.intoMemorySegment(c, cOff + 5 * ldc, LE);
        c51.intoMemorySegment(c, cOff + 5 * ldc + VB, LE);
        c60.intoMemorySegment(c, cOff + 6 * ldc, LE);
        c61.intoMemorySegment(c, cOff + 6 * ldc + VB, LE);
    }

    static void kernel6x2(MemorySegment a, long aOff, long px, long rowStride, int windowRows, int run,
                          MemorySegment w, long wOff, MemorySegment c, long cOff, long ldc) {
        FloatVector c00 = FloatVector.zero(S);
        FloatVector c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S);
        FloatVector c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S);
        FloatVector c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S);
        FloatVector c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S);
        FloatVector c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S);
        FloatVector c51 = FloatVector.zero(S);
        long a1 = aOff + px, a2 = a1 + px, a3 = a2 + px, a4 = a3 + px, a5 = a4 + px;
        long ko = 0, jump = rowStride - run * 4L;
        int depth = windowRows * run;
        for (int k = 0, j = 0; k < depth; k++, ko += 4) {
            if (j == run) {
                j = 0;
                ko += jump;
            }
            j++;
            long wo = wOff + (long) k * (2 * VB);
            FloatVector w0 = FloatVector.fromMemorySegment(S, w, wo, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, aOff + ko));
            c00 = w0.fma(av, c00);
            c01 = w1.fma(av, c01);
            av = FloatVector.broadcast(S, a.get(F32, a1 + ko));
            c10 = w0.fma(av, c10);
            c11 = w1.fma(av, c11);
            av = FloatVector.broadcast(S, a.get(F32, a2 + ko));
            c20 = w0.fma(av, c20);
            c21 = w1.fma(av, c21);
            av = FloatVector.broadcast(S, a.get(F32, a3 + ko));
            c30 = w0.fma(av, c30);
            c31 = w1.fma(av, c31);
            av = FloatVector.broadcast(S, a.get(F32, a4 + ko));
            c40 = w0.fma(av, c40);
            c41 = w1.fma(av, c41);
            av = FloatVector.broadcast(S, a.get(F32, a5 + ko));
            c50 = w0.fma(av, c50);
            c51 = w1.fma(av, c51);
        }
        c00.intoMemorySegment(c, cOff, LE);
        c01.intoMemorySegment(c, cOff + VB, LE);
        c10.intoMemorySegment(c, cOff + ldc, LE);
        c11.intoMemorySegment(c, cOff + ldc + VB, LE);
        c20.intoMemorySegment(c, cOff + 2 * ldc, LE);
        c21.intoMemorySegment(c, cOff + 2 * ldc + VB, LE);
        c30.intoMemorySegment(c, cOff + 3 * ldc, LE);
        c31.intoMemorySegment(c, cOff + 3 * ldc + VB, LE);
        c40.intoMemorySegment(c, cOff + 4 * ldc, LE);
        c41.intoMemorySegment(c, cOff + 4 * ldc + VB, LE);
        c50.intoMemorySegment(c, cOff + 5 * ldc, LE);
        c51.intoMemorySegment(c, cOff + 5 * ldc + VB, LE);
    }
}
