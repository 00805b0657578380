package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.Gemm.F32;
import static dev.skipjack.engine.kernels.Gemm.LE;

import dev.skipjack.engine.runtime.Parallel;
import dev.skipjack.engine.runtime.Shares;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * A convolution of an NCHW input with few channels (the stem: 3 -> 64, 7x7, stride 2, padding 3) into
 * channels-last activations: {@code out[p][co] = relu?(bias[co] + sum_{ci, ky, kx} in[ci][y + ky][x + kx] W[co][ci][ky][kx])}.
 *
 * <p>Layouts: in NCHW {@code [n][cin][h][w]}; out NHWC {@code [n][oh][ow][cout]} followed by one pixel of zeros
 * (see {@link ConvNhwc}); weights packed k times, {@code [rot][panel][kx][slot][ci][width]} (note: kx outer), window
 * row ky in slot (rot + ky) % k.
 *
 * <p>Image by image, two passes. First the image, channels-last and zero-padded, into the scratch: {@code P [hp][wp][cin]}
 * (hp = h + 2 pad, wp = w + 2 pad). Then per output row: its k window rows of P interleaved, column by column, into
 * the thread's {@code G [wp][slot][ci]} (k * cin floats a column), where the window of output pixel x is one run of
 * k * k * cin contiguous floats from column stride * x, and consecutive pixels' windows start stride * k * cin
 * floats apart: each register tile of pixels is then one call of ConvNhwc's micro-kernels over a plain depth
 * loop (constant strides, its bounds checks hoisted), per panel of output channels, then bias and ReLU into out.
 *
 * <p>Padded row yp sits in slot yp % k, so the next output row of a thread, stride rows down, gathers only its
 * stride new rows, into the slots of the rows it no longer reads; its window rows are then in rotated order, which
 * the weights packed for rotation (oy * stride) % k follow. The gather had been 13% of the stem's time; the stem
 * alone, 224 x 224, both versions alternating in one process: 0.909 of the time on one thread (faster in 30 of 40
 * rounds), 0.921 on two, 0.837 at batch 8; inside whole ResNet-18 passes 0.949 (session 16).
 *
 * <p>Why: read in place from P, a window is k runs of k * cin floats, and the kernel's depth index jumps after
 * each run: not affine in the loop counter, so C2 kept the bounds checks of the tile's six input reads in the
 * loop. The stem alone, 224 x 224, both versions alternating in one process (Ice Lake Xeon, AVX-512, session 14):
 * one thread 0.728 of the time (4.18 against 5.74 ms, faster in 39 of 40 rounds), two 0.845 (31 of 40); ResNet-18
 * batch 1 0.951 and 0.975. The gather's loops matter: along each window row, a long and an int a pixel; column by
 * column (k short inner loops) with 4-float vector copies it took 1.7 ms of the stem's 5. Measured before (Zen 5,
 * the 7x2 kernel): each output row's k input rows gathered by scalar copies, 21 floats an input column, 0.31 ms
 * of a stem on one core: slower than reading P in place then; each output row's windows copied out of P by whole
 * vectors (an im2col of the row); the depth step's input offset from a table inside the kernel (the loads then
 * depend on a loaded offset, their bounds checks stay in the loop): 42% of a core's peak; a loop per window row
 * inside the kernel, or a kernel call per window row adding into the tile: 1.1-1.6 times the time. Fused with the
 * max pool after it (the rows through a ring per thread): within noise, not kept.
 */
public final class StemConv implements ConvKernel {
    private static final VectorSpecies<Float> S = Gemm.S;
    private static final ValueLayout.OfLong J64 = ValueLayout.JAVA_LONG_UNALIGNED;
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
    // [rot][panels][kx][slot][ci][width], width = 2 NRC where wide, else NRC: the depth order of a window in G, for
    // each rotation rot of the window rows in G's slots (window row ky in slot (rot + ky) % ks)
    private final MemorySegment[] packedW;
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
        // ConvNhwc's tap t = kx * ks + slot: the weights as [cout][cin][kx][slot], window row ky in slot
        // (rot + ky) % ks
        this.packedW = new MemorySegment[ks];
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment t = tmp.allocate((long) cout * depth * 4, 64);
            for (int rot = 0; rot < ks; rot++) {
                for (int o = 0; o < cout * cin; o++) {
                    for (int ky = 0; ky < ks; ky++) {
                        for (int kx = 0; kx < ks; kx++) {
                            t.setAtIndex(F32, (long) o * ks * ks + kx * ks + (rot + ky) % ks,
                                    weight.getAtIndex(F32, (long) o * ks * ks + ky * ks + kx));
                        }
                    }
                }
                this.packedW[rot] = ConvNhwc.packPanels(t, cout, cin, ks * ks, width, arena);
            }
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
        return "NCHW>NHWC-PADDED";
    }

    // Scratch: P [hp][wp][cin] (one image at a time; the gather reads nothing past it), then per thread G and a
    // tile for a partial last tile.
    private long padBytes(int h, int w) {
        return Simd.align64((long) (h + 2 * pad) * (w + 2 * pad) * cin * 4);
    }

    /** Columns of G: every padded input column, and those the pixels of a partial last tile read (junk, dropped). */
    private int gColumns(int w) {
        int tile = wide ? ConvNhwc.WP : MP;
        int ow = shape.outW(w), tiles = (ow + tile - 1) / tile;
        return Math.max(w + 2 * pad, stride * (tiles * tile - 1) + ks);
    }

    /** A thread's G: [gColumns][ks][cin] floats. */
    private long gBytes(int w) {
        return Simd.align64((long) gColumns(w) * ks * cin * 4);
    }

    /** A thread's tile for a partial last tile: MP x NRC floats, or WP x 2 NRC where {@link #wide}. */
    private long tileBytes() {
        return wide ? (long) ConvNhwc.WP * 2 * NRC * 4 : (long) MP * NRC * 4;
    }

    @Override
    public long scratchBytes(int n, int h, int w, int threads) {
        return padBytes(h, w) + (long) Math.max(1, threads) * (gBytes(w) + tileBytes());
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
            j.wp = wp;
            j.oh = oh;
            j.ow = ow;
            j.rows = oh;
            j.tmp0 = padBytes(h, w);
            j.slotBytes = gBytes(w) + tileBytes();
            j.parts = Math.min(par.threads(), j.rows);
            try {
                // Image by image: P is one image's (623 KB instead of 4.9 MB of scratch at batch 8), at the cost of
                // two barriers an image; a batch of 8 in 1.006-1.008 of the time of one P for the batch.
                for (int img = 0; img < n; img++) {
                    pj.img = img;
                    j.img = img;
                    j.shares.reset(j.rows, j.parts);
                    j.resetGathered(j.parts);
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
     * rows per part.
     */
    private final class PadJob implements Parallel.Task {
        MemorySegment in, scratch;
        int h, w, rows, parts, img;

        @Override
        public void run(int part) {
            int wp = w + 2 * pad;
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
        int wp, oh, ow, rows, parts, img;
        long tmp0, slotBytes;
        final Shares shares = new Shares();
        /** Per thread slot, the output row whose window rows its G holds, -1 for none (reset per image). */
        int[] gathered = new int[0];

        /** Forgets what the threads' G hold (a new image in P), growing the record to {@code slots}. */
        void resetGathered(int slots) {
            if (gathered.length < slots) {
                gathered = new int[slots];
            }
            Arrays.fill(gathered, -1);
        }

        @Override
        public void run(int slot) {
            long g = tmp0 + (long) slot * slotBytes, tmp = g + slotBytes - tileBytes();
            for (int row; (row = shares.claim(slot)) >= 0; ) {
                // the row after the last one: only its window's new input rows (stride of ks) into their slots
                int first = row > 0 && gathered[slot] == row - 1 && stride < ks ? ks - stride : 0;
                for (int ky = first; ky < ks; ky++) {
                    gather(row * stride + ky, g);
                }
                gathered[slot] = row;
                row(img, row, g, tmp);
            }
        }

        /**
         * G [xp][yp % ks][ci] = P [yp][xp][ci] at byte g of the scratch, for xp in [0, wp): padded input row yp into
         * its slot, a loop along the row (constant strides, C2 hoists the bounds checks), for cin = 3 a long and
         * an int a pixel.
         */
        private void gather(int yp, long g) {
            long colBytes = (long) ks * cin * 4, pix = cin * 4L;
            long src = (long) yp * wp * pix, dst = g + (yp % ks) * pix;
            if (cin == 3) {
                for (int xp = 0; xp < wp; xp++, src += 12, dst += colBytes) {
                    scratch.set(J64, dst, scratch.get(J64, src));
                    scratch.set(F32, dst + 8, scratch.get(F32, src + 8));
                }
            } else {
                for (int xp = 0; xp < wp; xp++, src += pix, dst += colBytes) {
                    MemorySegment.copy(scratch, src, scratch, dst, pix);
                }
            }
        }

        private void row(int img, int oy, long g, long tmp) {
            long px = (long) stride * ks * cin * 4; // from one pixel's window in G to the next's
            long pixel0 = ((long) img * oh + oy) * ow;
            int tile = wide ? ConvNhwc.WP : MP, width = wide ? 2 * NRC : NRC;
            long ldc = cout * 4L, ldt = width * 4L;
            MemorySegment packedW = StemConv.this.packedW[oy * stride % ks]; // window row 0 in slot oy * stride % ks
            for (int panel = 0; panel < panels; panel++) {
                long wOff = (long) panel * depth * width * 4;
                long bOff = (long) panel * width * 4;
                for (int ox = 0; ox < ow; ox += tile) {
                    int valid = Math.min(tile, ow - ox);
                    long o = (pixel0 + ox) * ldc + bOff;
                    long a = g + ox * px;
                    // a whole tile straight into out; a partial one into tmp (pixels past the row read G's next
                    // columns: junk, dropped)
                    boolean whole = valid == tile;
                    MemorySegment c = whole ? out : scratch;
                    long cOff = whole ? o : tmp, ld = whole ? ldc : ldt;
                    if (wide) {
                        ConvNhwc.kernel6x4(scratch, a, px, depth, packedW, wOff, c, cOff, ld);
                    } else if (MP == 7) {
                        ConvNhwc.kernel7x2(scratch, a, a + px, a + 2 * px, a + 3 * px, a + 4 * px, a + 5 * px,
                                a + 6 * px, depth, packedW, wOff, c, cOff, ld);
                    } else {
                        ConvNhwc.kernel6x2(scratch, a, a + px, a + 2 * px, a + 3 * px, a + 4 * px, a + 5 * px,
                                depth, packedW, wOff, c, cOff, ld);
                    }
                    ConvNhwc.finishTile(width, bias, bOff, c, cOff, ld, out, o, ldc, null, relu, valid);
                }
            }
        }
    }
}
