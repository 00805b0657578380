package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.Gemm.F32;
import static dev.skipjack.engine.kernels.Gemm.LE;
import static dev.skipjack.engine.kernels.Gemm.MR;
import static dev.skipjack.engine.kernels.Gemm.NR;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * 2-D convolution as a GEMM, {@code out[co][p] = sum_k W[co][k] * B[k][p]} per image and group, followed by the
 * folded batch-norm bias, an optional residual and an optional ReLU in one pass over the result.
 *
 * <p>The depth index k runs over (ky, kx, ci), kernel offset outermost. Where B comes from depends on the
 * geometry, chosen once at construction ({@link Path}):
 * <ul>
 *   <li>{@code DIRECT} (1x1, stride 1, no padding): B is the input itself, [cin][h*w]; no copy at all.</li>
 *   <li>{@code SHIFTED} (k x k, stride 1): the input is copied once into a zero-padded buffer
 *       [cin][(h+2p)*(w+2p)]; the output is computed on the padded width, where every kernel offset
 *       (ky, kx) makes B rows a plain shift of the padded planes, so again nothing is expanded k*k times.
 *       Each output row carries {@code 2p} junk columns that the final pass skips.</li>
 *   <li>{@code IM2COL} (strided, or too few channels per group for SHIFTED's depth blocks): each task writes
 *       the block of the column matrix it needs straight into packed panels [kc][NR] in its scratch.</li>
 * </ul>
 *
 * <p>Work is split into tasks (image, group, block of output channels, block of output columns) that the
 * pool's threads claim from a counter. A task accumulates its block in its own scratch over depth blocks
 * of at most {@value #KC} (B's micro-panel, kc x NR floats, stays in L1 while the packed weights of up to
 * {@value #MC} output channels stream from L2), then runs the epilogue from there into {@code out}.
 */
public final class Conv2d {
    private static final VectorSpecies<Float> S = Gemm.S;
    private static final int L = Gemm.L;

    /** Largest depth block. */
    static final int KC = 256;
    /** Largest block of output channels per task (a multiple of every MR). */
    static final int MC = 256;
    /** Output columns per task, in panels of NR. */
    static final int NC_PANELS = 8;

    /** Where the GEMM's B operand comes from; see the class comment. */
    public enum Path { DIRECT, SHIFTED, IM2COL }

    private final ConvShape shape;
    private final Path path;
    private final int ks, stride, pad, cinG, coutG;
    private final int k;       // GEMM depth per group: ks * ks * cinG
    private final int mPanels; // ceil(coutG / MR)
    // [groups][mPanels][k][MR], k = (ky * ks + kx) * cinG + ci: MR output channels interleaved along the depth,
    // so the micro-kernel reads MR consecutive weights per step; rows past coutG are zero.
    private final MemorySegment packedW;
    // [cout]
    private final MemorySegment bias;
    private final TileJob tileJob = new TileJob();
    private final PadJob padJob = new PadJob();

    /**
     * Packs the weights once into {@code arena}.
     *
     * @param shape  the convolution's geometry
     * @param weight [cout][cin/groups][k][k] float32 (OIHW, batch norm folded in); may be read-only
     * @param bias   [cout] float32; may be read-only
     * @param arena  owns the packed copy
     */
    public Conv2d(ConvShape shape, MemorySegment weight, MemorySegment bias, Arena arena) {
        this(shape, weight, bias, arena, choosePath(shape));
    }

    Conv2d(ConvShape shape, MemorySegment weight, MemorySegment bias, Arena arena, Path path) {
        this.shape = shape;
        this.path = path;
        this.ks = shape.kernel();
        this.stride = shape.stride();
        this.pad = shape.pad();
        this.cinG = shape.cinPerGroup();
        this.coutG = shape.coutPerGroup();
        this.k = shape.gemmK();
        this.mPanels = (coutG + MR - 1) / MR;
        if (path == Path.DIRECT && (ks != 1 || stride != 1 || pad != 0) || path == Path.SHIFTED && stride != 1) {
            throw new IllegalArgumentException("Conv2d: path " + path + " cannot run " + shape);
        }
        long wFloats = (long) shape.cout() * k;
        if (weight.byteSize() < wFloats * 4) {
            throw new IllegalArgumentException("Conv2d " + shape + ": weight needs " + wFloats + " floats ["
                    + shape.cout() + "][" + cinG + "][" + ks + "][" + ks + "], got " + weight.byteSize() / 4);
        }
        if (bias.byteSize() < shape.cout() * 4L) {
            throw new IllegalArgumentException("Conv2d " + shape + ": bias needs " + shape.cout()
                    + " floats, got " + bias.byteSize() / 4);
        }
        int groups = shape.groups();
        this.packedW = arena.allocate((long) groups * mPanels * k * MR * 4, 64);
        for (int g = 0; g < groups; g++) {
            for (int co = 0; co < coutG; co++) {
                long panel = (long) g * mPanels + co / MR;
                for (int ci = 0; ci < cinG; ci++) {
                    for (int kk = 0; kk < ks * ks; kk++) {
                        long src = ((long) (g * coutG + co) * cinG + ci) * ks * ks + kk;
                        long dst = (panel * k + (long) kk * cinG + ci) * MR + co % MR;
                        packedW.set(F32, dst * 4, weight.get(F32, src * 4));
                    }
                }
            }
        }
        this.bias = arena.allocate(shape.cout() * 4L, 64);
        MemorySegment.copy(bias, 0, this.bias, 0, shape.cout() * 4L);
    }

    static Path choosePath(ConvShape s) {
        if (s.kernel() == 1 && s.stride() == 1 && s.pad() == 0) {
            return Path.DIRECT;
        }
        // SHIFTED splits the depth into blocks of at most cin/groups, one kernel offset each: with fewer
        // channels than this the per-block overhead outweighs the im2col copy it saves.
        if (s.stride() == 1 && s.cinPerGroup() >= 16) {
            return Path.SHIFTED;
        }
        return Path.IM2COL;
    }

    /** The geometry this convolution was built for. */
    public ConvShape shape() {
        return shape;
    }

    /** The algorithm this convolution runs, chosen from its geometry. */
    public Path path() {
        return path;
    }

    /** Output columns of one image in the GEMM: pixels, or pixels on the padded width for SHIFTED. */
    private int gemmCols(int h, int w) {
        return path == Path.SHIFTED ? shape.outH(h) * (w + 2 * pad) : shape.outH(h) * shape.outW(w);
    }

    private static int ncFor(int cols) {
        return Math.min(NC_PANELS, (cols + NR - 1) / NR) * NR;
    }

    private int mcRows() {
        return Math.min(MC, mPanels * MR);
    }

    private long slotBytes(int cols) {
        int nc = ncFor(cols);
        long floats = (long) mcRows() * nc + (long) Math.min(KC, k) * nc;
        return (floats * 4 + 63) & ~63L;
    }

    private long paddedPlane(int h, int w) {
        return (long) (h + 2 * pad) * (w + 2 * pad);
    }

    private long sharedBytes(int n, int h, int w) {
        if (path != Path.SHIFTED) {
            return 0;
        }
        long floats = (long) n * shape.cin() * paddedPlane(h, w) + NR + ks + 16;
        return (floats * 4 + 63) & ~63L;
    }

    /**
     * Bytes of scratch that {@link #forward} needs for an n x cin x h x w input on a pool of up to
     * {@code threads} threads. The scratch must be 64-byte aligned; its contents need not be initialized.
     */
    public long scratchBytes(int n, int h, int w, int threads) {
        shape.outH(h);
        shape.outW(w);
        return sharedBytes(n, h, w) + slotBytes(gemmCols(h, w)) * Math.max(1, threads);
    }

    /**
     * {@code out = relu?(conv(in) + bias + residual)}.
     *
     * @param in       [n][cin][h][w]
     * @param out      [n][cout][oh][ow]; must not overlap {@code in} or {@code scratch}
     * @param residual null or [n][cout][oh][ow]; must not alias {@code out}
     * @param relu     whether to clamp at zero after the residual add
     * @param scratch  at least {@link #scratchBytes}{@code (n, h, w, par.threads())} bytes
     * @param par      the pool that runs the tasks
     */
    public void forward(MemorySegment in, MemorySegment out, MemorySegment residual, boolean relu,
                        int n, int h, int w, MemorySegment scratch, Parallel par) {
        if (n < 1) {
            throw new IllegalArgumentException("Conv2d " + shape + ": batch must be >= 1, got " + n);
        }
        int oh = shape.outH(h), ow = shape.outW(w);
        int threads = par.threads();
        long need = scratchBytes(n, h, w, threads);
        if (scratch.byteSize() < need) {
            throw new IllegalArgumentException("Conv2d " + shape + ": scratch of " + scratch.byteSize()
                    + " bytes, needs " + need + " for n=" + n + " h=" + h + " w=" + w + " threads=" + threads);
        }
        int cols = gemmCols(h, w);
        int nc = ncFor(cols);
        int nBlocks = (cols + nc - 1) / nc;
        int mBlockPanels = mcRows() / MR;
        // Smaller channel blocks when there are too few tasks to keep every thread busy.
        while (mBlockPanels > 1 && (long) n * shape.groups() * nBlocks * ((mPanels + mBlockPanels - 1) / mBlockPanels)
                < 2L * threads) {
            mBlockPanels = (mBlockPanels + 1) / 2;
        }
        int mBlocks = (mPanels + mBlockPanels - 1) / mBlockPanels;
        synchronized (tileJob) {
            long shared = sharedBytes(n, h, w);
            if (path == Path.SHIFTED) {
                PadJob pj = padJob;
                pj.in = in;
                pj.xp = scratch;
                pj.planes = n * shape.cin();
                pj.h = h;
                pj.w = w;
                pj.parts = Math.min(threads, pj.planes);
                try {
                    par.forEach(pj.parts, pj);
                } finally {
                    pj.in = pj.xp = null;
                }
            }
            TileJob j = tileJob;
            j.in = in;
            j.out = out;
            j.res = residual;
            j.relu = relu;
            j.scratch = scratch;
            j.h = h;
            j.w = w;
            j.oh = oh;
            j.ow = ow;
            j.cols = cols;
            j.wq = path == Path.SHIFTED ? w + 2 * pad : ow;
            j.nc = nc;
            j.nBlocks = nBlocks;
            j.mBlocks = mBlocks;
            j.mBlockPanels = mBlockPanels;
            j.tiles = n * shape.groups() * mBlocks * nBlocks;
            j.slot0 = shared;
            j.slotBytes = slotBytes(cols);
            j.next.set(0);
            try {
                par.forEach(Math.min(threads, j.tiles), j);
            } finally {
                j.in = j.out = j.res = j.scratch = null;
            }
        }
    }

    /** SHIFTED's first pass: [n*cin][h][w] into zero-padded planes [n*cin][h+2p][w+2p], then zero slack. */
    private final class PadJob implements Parallel.Task {
        MemorySegment in, xp;
        int planes, h, w, parts;

        @Override
        public void run(int part) {
            int p0 = (int) ((long) planes * part / parts), p1 = (int) ((long) planes * (part + 1) / parts);
            int wp = w + 2 * pad;
            long plane = paddedPlane(h, w);
            for (int p = p0; p < p1; p++) {
                long src = (long) p * h * w * 4;
                long dst = p * plane * 4;
                zero(xp, dst, (long) pad * wp + pad);
                for (int y = 0; y < h; y++) {
                    long row = dst + ((long) (y + pad) * wp + pad) * 4;
                    MemorySegment.copy(in, src + (long) y * w * 4, xp, row, w * 4L);
                    // the right padding of this row and the left padding of the next are adjacent
                    zero(xp, row + w * 4L, y + 1 < h ? 2L * pad : (long) pad + (long) pad * wp);
                }
            }
            if (part == parts - 1) {
                zero(xp, planes * plane * 4, NR + ks + 16);
            }
        }
    }

    private static void zero(MemorySegment s, long off, long floats) {
        long i = 0;
        FloatVector z = FloatVector.zero(S);
        for (; i + L <= floats; i += L) {
            z.intoMemorySegment(s, off + i * 4, LE);
        }
        for (; i < floats; i++) {
            s.set(F32, off + i * 4, 0f);
        }
    }

    /** One forward's parameters; {@link #run} is one thread's share, claiming tasks until none are left. */
    private final class TileJob implements Parallel.Task {
        MemorySegment in, out, res, scratch;
        boolean relu;
        int h, w, oh, ow, cols, wq, nc, nBlocks, mBlocks, mBlockPanels, tiles;
        long slot0, slotBytes;
        final AtomicInteger next = new AtomicInteger();

        @Override
        public void run(int slot) {
            long slotOff = slot0 + slot * slotBytes;
            for (int t; (t = next.getAndIncrement()) < tiles; ) {
                task(t, slotOff);
            }
        }

        private void task(int t, long slotOff) {
            int nb = t % nBlocks;
            t /= nBlocks;
            int mb = t % mBlocks;
            t /= mBlocks;
            int groups = shape.groups();
            int g = t % groups;
            int img = t / groups;

            int q0 = nb * nc;
            int qn = Math.min(nc, cols - q0);
            int jPanels = (qn + NR - 1) / NR;
            int i0 = mb * mBlockPanels;
            int i1 = Math.min(mPanels, i0 + mBlockPanels);
            // [mBlockPanels * MR][nc]: this task's block of the result, accumulated over depth blocks
            long cp = slotOff;
            long ldcp = nc * 4L;
            // IM2COL: [jPanels][kc][NR] packed columns; DIRECT: [kc][NR] for a last, partial panel
            long bp = slotOff + (long) mcRows() * nc * 4;
            long aGroup = (long) g * mPanels * k * MR * 4;
            long inImage = (long) (img * shape.cin() + g * cinG) * h * w * 4;
            switch (path) {
                case DIRECT -> {
                    long ldb = (long) cols * 4;
                    for (int k0 = 0; k0 < k; k0 += KC) {
                        int kc = Math.min(KC, k - k0);
                        long b = inImage + ((long) k0 * cols + q0) * 4;
                        for (int jp = 0; jp < jPanels; jp++) {
                            if (jp * NR + NR <= qn) {
                                panelTimesBlock(aGroup, k0, kc, in, b + jp * NR * 4L, ldb, cp, ldcp, jp, i0, i1);
                            } else {
                                // A partial last panel would read past the image: pack it, zero-padded.
                                int c0 = q0 + jp * NR;
                                packColumns(in, inImage, k0, kc, c0, cols - c0, 1, scratch, bp);
                                panelTimesBlock(aGroup, k0, kc, scratch, bp, NR * 4L, cp, ldcp, jp, i0, i1);
                            }
                        }
                    }
                }
                case SHIFTED -> {
                    int wp = w + 2 * pad;
                    long plane = paddedPlane(h, w);
                    long xImage = (long) (img * shape.cin() + g * cinG) * plane * 4;
                    for (int ky = 0; ky < ks; ky++) {
                        for (int kx = 0; kx < ks; kx++) {
                            for (int ci0 = 0; ci0 < cinG; ci0 += KC) {
                                int kc = Math.min(KC, cinG - ci0);
                                int k0 = (ky * ks + kx) * cinG + ci0;
                                long b = xImage + (ci0 * plane + (long) ky * wp + kx + q0) * 4;
                                for (int jp = 0; jp < jPanels; jp++) {
                                    panelTimesBlock(aGroup, k0, kc, scratch, b + jp * NR * 4L, plane * 4, cp, ldcp,
                                            jp, i0, i1);
                                }
                            }
                        }
                    }
                }
                case IM2COL -> {
                    for (int k0 = 0; k0 < k; k0 += KC) {
                        int kc = Math.min(KC, k - k0);
                        packColumns(in, inImage, k0, kc, q0, qn, jPanels, scratch, bp);
                        for (int jp = 0; jp < jPanels; jp++) {
                            panelTimesBlock(aGroup, k0, kc, scratch, bp + (long) jp * kc * NR * 4, NR * 4L, cp, ldcp,
                                    jp, i0, i1);
                        }
                    }
                }
            }
            int rows = Math.min(coutG, i1 * MR) - i0 * MR;
            epilogue(cp, ldcp, rows, img, g * coutG + i0 * MR, q0, qn);
        }

        /** One B micro-panel (kc x NR, column panel jp) against the A panels [i0, i1): C (+)= A B into cp. */
        private void panelTimesBlock(long aGroup, int k0, int kc, MemorySegment b, long bOff, long ldb,
                                     long cp, long ldcp, int jp, int i0, int i1) {
            boolean accumulate = k0 != 0;
            for (int i = i0; i < i1; i++) {
                long a = aGroup + ((long) i * k + k0) * MR * 4;
                long c = cp + (long) (i - i0) * MR * ldcp + (long) jp * NR * 4;
                Gemm.tile(packedW, a, b, bOff, ldb, kc, scratch, c, ldcp, accumulate);
            }
        }

        /**
         * From the task's block [rows][qn] (row stride ldcp) to out: bias, residual, ReLU. Block column q is
         * GEMM column q0 + q, i.e. output (q / wq, q % wq), kept where q % wq < ow.
         */
        private void epilogue(long cp, long ldcp, int rows, int img, int co0, int q0, int qn) {
            long outPlane = (long) oh * ow;
            for (int r = 0; r < rows; r++) {
                int co = co0 + r;
                float bv = bias.get(F32, co * 4L);
                long src = cp + r * ldcp;
                long dstPlane = ((long) img * shape.cout() + co) * outPlane;
                int q = q0, end = q0 + qn;
                int oy = q / wq, ox = q - oy * wq;
                while (q < end) {
                    int run = Math.min(wq - ox, end - q);
                    int valid = Math.min(run, ow - ox);
                    if (valid > 0) {
                        finish(scratch, src + (long) (q - q0) * 4, out, res, (dstPlane + (long) oy * ow + ox) * 4,
                                valid, bv, relu);
                    }
                    q += run;
                    oy++;
                    ox = 0;
                }
            }
        }

        /**
         * Writes rows [k0, k0+kc) of B (the column matrix of one image and group) for GEMM columns
         * [c0, c0+cn) as panels [ceil(cn/NR)][kc][NR] at dstOff; columns past cn up to {@code panels * NR}
         * are zero. Row k0+kk is (ky, kx, ci) with k = (ky * ks + kx) * cinG + ci.
         */
        private void packColumns(MemorySegment in, long inImage, int k0, int kc, int c0, int cn, int panels,
                                 MemorySegment dst, long dstOff) {
            long panelBytes = (long) kc * NR * 4;
            for (int kk = 0; kk < kc; kk++) {
                int r = k0 + kk;
                int kidx = r / cinG, ci = r - kidx * cinG;
                int ky = kidx / ks, kx = kidx - ky * ks;
                long chan = inImage + (long) ci * h * w * 4;
                // Output columns whose input column ox * stride - pad + kx lies inside [0, w).
                int oxLo = Math.max(0, ceilDiv(pad - kx, stride));
                int oxHi = Math.min(ow, Math.floorDiv(w - 1 + pad - kx, stride) + 1);
                long rowDst = dstOff + (long) kk * NR * 4;
                int c = 0, oy = c0 / ow, ox = c0 - oy * ow;
                while (c < cn) {
                    int run = Math.min(ow - ox, cn - c);
                    int iy = oy * stride - pad + ky;
                    boolean rowInside = iy >= 0 && iy < h;
                    long srcRow = chan + (long) iy * w * 4;
                    // Split the run where it crosses from one NR-column panel into the next.
                    int done = 0;
                    while (done < run) {
                        int cc = c + done, slotInPanel = cc % NR;
                        int piece = Math.min(run - done, NR - slotInPanel);
                        long d = rowDst + (cc / NR) * panelBytes + slotInPanel * 4L;
                        int a = ox + done, e = a + piece; // output columns [a, e) of row oy
                        if (!rowInside) {
                            zero(dst, d, piece);
                        } else {
                            int lo = Math.min(Math.max(a, oxLo), e), hi = Math.max(Math.min(e, oxHi), lo);
                            zero(dst, d, lo - a);
                            long s = srcRow + ((long) lo * stride - pad + kx) * 4;
                            long dd = d + (lo - a) * 4L;
                            if (stride == 1) {
                                MemorySegment.copy(in, s, dst, dd, (hi - lo) * 4L);
                            } else {
                                for (int x = lo; x < hi; x++, s += stride * 4L, dd += 4) {
                                    dst.set(F32, dd, in.get(F32, s));
                                }
                            }
                            zero(dst, d + (hi - a) * 4L, e - hi);
                        }
                        done += piece;
                    }
                    c += run;
                    oy++;
                    ox = 0;
                }
                for (int cc = cn; cc < panels * NR; cc++) {
                    dst.set(F32, rowDst + (cc / NR) * panelBytes + (cc % NR) * 4L, 0f);
                }
            }
        }
    }

    private static int ceilDiv(int a, int b) {
        return -Math.floorDiv(-a, b);
    }

    /** {@code dst[i] = relu?(src[i] + bias + res[i])} for {@code count} floats; res may be null. */
    static void finish(MemorySegment src, long srcOff, MemorySegment dst, MemorySegment res, long dstOff,
                       int count, float bias, boolean relu) {
        FloatVector bv = FloatVector.broadcast(S, bias), zero = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(count); i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, src, srcOff + i * 4L, LE).add(bv);
            if (res != null) {
                v = v.add(FloatVector.fromMemorySegment(S, res, dstOff + i * 4L, LE));
            }
            if (relu) {
                v = v.max(zero);
            }
            v.intoMemorySegment(dst, dstOff + i * 4L, LE);
        }
        for (; i < count; i++) {
            float v = src.get(F32, srcOff + i * 4L) + bias;
            if (res != null) {
                v += res.get(F32, dstOff + i * 4L);
            }
            if (relu) {
                v = Math.max(v, 0f);
            }
            dst.set(F32, dstOff + i * 4L, v);
        }
    }
}
