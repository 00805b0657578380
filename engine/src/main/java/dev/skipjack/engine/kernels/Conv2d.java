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
 * 2-D convolution as a GEMM: {@code out[co][p] = sum_k W[co][k] * col[k][p]}, per image and group, with the
 * folded batch-norm bias, an optional residual and an optional ReLU applied as the results are stored.
 *
 * <p>The column matrix {@code col} ({@code k = (ci, ky, kx)}, {@code p = (oy, ox)}) is never built whole:
 * each task writes the block of it that the micro-kernel needs straight into packed panels in its own
 * scratch. The micro-kernel holds a tile of {@value #MR} output channels by two vectors of output pixels in
 * registers; the vector axis runs along output pixels, which are contiguous in NCHW, so results are
 * stored with plain vector stores.
 *
 * <p>Work is split into tiles (image, group, block of output channels, block of pixels) that the pool's
 * threads claim from a counter; each thread uses its own slot of the scratch.
 */
public final class Conv2d {
    private static final VectorSpecies<Float> S = Simd.FLOAT;
    private static final int L = S.length();
    private static final long VB = S.vectorByteSize();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Rows (output channels) of the register tile. */
    static final int MR = 4;
    /** Columns (output pixels) of the register tile: two vectors. */
    static final int NR = 2 * L;
    /** Largest block of the GEMM depth packed at once: kc x NR floats of B stay in L1 while MR rows of A stream. */
    static final int KC_MAX = 256;
    /** Pixels per task block, in panels of NR. */
    static final int NC_PANELS = 8;

    private final ConvShape shape;
    private final int k;       // GEMM depth per group
    private final int coutG;
    private final int mPanels; // ceil(coutG / MR)
    // [groups][mPanels][k][MR]: each panel holds MR output channels interleaved along the depth, so the
    // micro-kernel reads MR consecutive weights per step; rows past coutG are zero.
    private final MemorySegment packedW;
    // [cout]
    private final MemorySegment bias;
    private final Job job = new Job();

    /**
     * Packs the weights once into {@code arena}.
     *
     * @param shape  the convolution's geometry
     * @param weight [cout][cin/groups][k][k] float32 (OIHW, batch norm folded in); may be read-only
     * @param bias   [cout] float32; may be read-only
     * @param arena  owns the packed copy
     */
    public Conv2d(ConvShape shape, MemorySegment weight, MemorySegment bias, Arena arena) {
        this.shape = shape;
        this.k = shape.gemmK();
        this.coutG = shape.coutPerGroup();
        this.mPanels = (coutG + MR - 1) / MR;
        long wFloats = (long) shape.cout() * k;
        if (weight.byteSize() < wFloats * 4) {
            throw new IllegalArgumentException("Conv2d " + shape + ": weight needs " + wFloats
                    + " floats [" + shape.cout() + "][" + shape.cinPerGroup() + "][" + shape.kernel() + "]["
                    + shape.kernel() + "], got " + weight.byteSize() / 4);
        }
        if (bias.byteSize() < shape.cout() * 4L) {
            throw new IllegalArgumentException("Conv2d " + shape + ": bias needs " + shape.cout()
                    + " floats, got " + bias.byteSize() / 4);
        }
        int groups = shape.groups();
        this.packedW = arena.allocate((long) groups * mPanels * k * MR * 4, 64);
        for (int g = 0; g < groups; g++) {
            for (int co = 0; co < coutG; co++) {
                int panel = co / MR, r = co % MR;
                long src = ((long) (g * coutG + co) * k) * 4;
                long dst = (((long) g * mPanels + panel) * k * MR + r) * 4;
                for (int kk = 0; kk < k; kk++) {
                    packedW.set(F32, dst + (long) kk * MR * 4, weight.get(F32, src + kk * 4L));
                }
            }
        }
        this.bias = arena.allocate(shape.cout() * 4L, 64);
        MemorySegment.copy(bias, 0, this.bias, 0, shape.cout() * 4L);
    }

    /** The geometry this convolution was built for. */
    public ConvShape shape() {
        return shape;
    }

    private int kcStep() {
        int blocks = (k + KC_MAX - 1) / KC_MAX;
        return (k + blocks - 1) / blocks;
    }

    private static int ncFor(int pixels) {
        return Math.min(NC_PANELS, (pixels + NR - 1) / NR) * NR;
    }

    private long slotBytes(int pixels) {
        long floats = (long) MR * NR + (long) kcStep() * ncFor(pixels);
        return (floats * 4 + 63) & ~63L;
    }

    /**
     * Bytes of scratch that {@link #forward} needs for an n x cin x h x w input on a pool of up to
     * {@code threads} threads: one slot of packed columns per thread. The scratch must be 64-byte aligned.
     */
    public long scratchBytes(int n, int h, int w, int threads) {
        int pixels = shape.outH(h) * shape.outW(w);
        return slotBytes(pixels) * Math.max(1, threads);
    }

    /**
     * {@code out = relu?(conv(in) + bias + residual)}.
     *
     * @param in       [n][cin][h][w]
     * @param out      [n][cout][oh][ow]; must not overlap {@code in}
     * @param residual null or [n][cout][oh][ow]; must not alias {@code out}
     * @param relu     whether to clamp at zero after the residual add
     * @param scratch  at least {@link #scratchBytes}{@code (n, h, w, par.threads())} bytes
     * @param par      the pool that runs the tiles
     */
    public void forward(MemorySegment in, MemorySegment out, MemorySegment residual, boolean relu,
                        int n, int h, int w, MemorySegment scratch, Parallel par) {
        int oh = shape.outH(h), ow = shape.outW(w);
        int pixels = oh * ow;
        int threads = par.threads();
        long need = scratchBytes(n, h, w, threads);
        if (scratch.byteSize() < need) {
            throw new IllegalArgumentException("Conv2d " + shape + ": scratch of " + scratch.byteSize()
                    + " bytes, needs " + need + " for n=" + n + " h=" + h + " w=" + w + " threads=" + threads);
        }
        int nc = ncFor(pixels);
        int nBlocks = (pixels + nc - 1) / nc;
        int base = n * shape.groups() * nBlocks;
        // Split the output channels too when images x groups x pixel blocks cannot keep every thread busy.
        int mSplit = Math.min(mPanels, Math.max(1, (4 * threads + base - 1) / base));
        int mBlockPanels = (mPanels + mSplit - 1) / mSplit;
        int mBlocks = (mPanels + mBlockPanels - 1) / mBlockPanels;
        synchronized (job) {
            Job j = job;
            j.in = in;
            j.out = out;
            j.res = residual;
            j.relu = relu;
            j.scratch = scratch;
            j.h = h;
            j.w = w;
            j.ow = ow;
            j.pixels = pixels;
            j.nc = nc;
            j.nBlocks = nBlocks;
            j.mBlocks = mBlocks;
            j.mBlockPanels = mBlockPanels;
            j.tiles = base * mBlocks;
            j.slotBytes = slotBytes(pixels);
            j.next.set(0);
            try {
                par.forEach(Math.min(threads, j.tiles), j);
            } finally {
                j.in = j.out = j.res = j.scratch = null;
            }
        }
    }

    /** One forward's parameters; {@link #run} is one thread's share, claiming tiles until none are left. */
    private final class Job implements Parallel.Task {
        MemorySegment in, out, res, scratch;
        boolean relu;
        int h, w, ow, pixels, nc, nBlocks, mBlocks, mBlockPanels, tiles;
        long slotBytes;
        final AtomicInteger next = new AtomicInteger();

        @Override
        public void run(int slot) {
            long slotOff = slot * slotBytes;
            for (int t; (t = next.getAndIncrement()) < tiles; ) {
                tile(t, slotOff);
            }
        }

        private void tile(int t, long slotOff) {
            int nb = t % nBlocks;
            t /= nBlocks;
            int mb = t % mBlocks;
            t /= mBlocks;
            int groups = shape.groups();
            int g = t % groups;
            int img = t / groups;

            int p0 = nb * nc;
            int cols = Math.min(nc, pixels - p0);
            int jPanels = (cols + NR - 1) / NR;
            int i0 = mb * mBlockPanels;
            int i1 = Math.min(mPanels, i0 + mBlockPanels);
            long inOff = (long) (img * shape.cin() + g * shape.cinPerGroup()) * h * w * 4;
            long outRow0 = (long) img * shape.cout() + (long) g * coutG; // first output channel of the group
            long edgeOff = slotOff;
            long bOff = slotOff + (long) MR * NR * 4;
            long ldc = (long) pixels * 4;
            int kcStep = kcStep();
            for (int k0 = 0; k0 < k; k0 += kcStep) {
                int kc = Math.min(kcStep, k - k0);
                packColumns(in, inOff, h, w, ow, k0, kc, p0, cols, jPanels, scratch, bOff);
                boolean first = k0 == 0, last = k0 + kc == k;
                for (int i = i0; i < i1; i++) {
                    int rows = Math.min(MR, coutG - i * MR);
                    long aOff = (((long) g * mPanels + i) * k + k0) * MR * 4;
                    long biasOff = (g * coutG + (long) i * MR) * 4;
                    long rowOff = ((outRow0 + (long) i * MR) * pixels + p0) * 4;
                    for (int jp = 0; jp < jPanels; jp++) {
                        int c = Math.min(NR, cols - jp * NR);
                        kernel(packedW, aOff, scratch, bOff + (long) jp * kc * NR * 4, kc,
                                out, rowOff + (long) jp * NR * 4, ldc, rows, c, first, last,
                                bias, biasOff, res, relu, scratch, edgeOff);
                    }
                }
            }
        }
    }

    /**
     * Writes rows [k0, k0+kc) and columns [p0, p0+cols) of the column matrix of one image and group into
     * panels at {@code dst}: [ceil(cols/NR)][kc][NR], columns past {@code cols} zero.
     */
    private void packColumns(MemorySegment in, long inOff, int h, int w, int ow, int k0, int kc,
                             int p0, int cols, int jPanels, MemorySegment dst, long dstOff) {
        int ks = shape.kernel(), stride = shape.stride(), pad = shape.pad();
        long panelBytes = (long) kc * NR * 4;
        if (ks == 1 && stride == 1 && pad == 0) {
            long plane = (long) h * w * 4;
            for (int kk = 0; kk < kc; kk++) {
                long src = inOff + (k0 + kk) * plane + p0 * 4L;
                long d = dstOff + (long) kk * NR * 4;
                for (int jp = 0; jp < jPanels; jp++, src += NR * 4L, d += panelBytes) {
                    int c = Math.min(NR, cols - jp * NR);
                    copyPanelRow(in, src, c, dst, d);
                }
            }
            return;
        }
        int kk2 = ks * ks;
        int padded = jPanels * NR;
        for (int kk = 0; kk < kc; kk++) {
            int r = k0 + kk;
            int ci = r / kk2, ky = (r % kk2) / ks, kx = r % ks;
            long chan = inOff + (long) ci * h * w * 4;
            int oy = p0 / ow, ox = p0 % ow;
            long rowBase = dstOff + (long) kk * NR * 4;
            int iy = oy * stride - pad + ky;
            for (int c = 0; c < padded; c++) {
                float v = 0f;
                if (c < cols) {
                    int ix = ox * stride - pad + kx;
                    if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                        v = in.get(F32, chan + ((long) iy * w + ix) * 4);
                    }
                    if (++ox == ow) {
                        ox = 0;
                        oy++;
                        iy = oy * stride - pad + ky;
                    }
                }
                dst.set(F32, rowBase + (long) (c / NR) * panelBytes + (c % NR) * 4L, v);
            }
        }
    }

    /** Copies {@code c <= NR} floats and zero-fills the rest of an NR-float panel row. */
    private static void copyPanelRow(MemorySegment src, long s, int c, MemorySegment dst, long d) {
        if (c == NR) {
            FloatVector.fromMemorySegment(S, src, s, LE).intoMemorySegment(dst, d, LE);
            FloatVector.fromMemorySegment(S, src, s + VB, LE).intoMemorySegment(dst, d + VB, LE);
            return;
        }
        for (int q = 0; q < NR; q++) {
            dst.set(F32, d + q * 4L, q < c ? src.get(F32, s + q * 4L) : 0f);
        }
    }

    /**
     * The register tile: C[MR][NR] (+)= A[MR][kc] * B[kc][NR] with A packed [kc][MR] and B packed [kc][NR],
     * then the epilogue on the last depth block. {@code rows < MR} or {@code cols < NR} marks an edge tile,
     * which goes through {@code edge} ([MR][NR] floats of scratch) and a scalar store.
     */
    static void kernel(MemorySegment a, long aOff, MemorySegment b, long bOff, int kc,
                       MemorySegment c, long cOff, long ldc, int rows, int cols, boolean first, boolean last,
                       MemorySegment bias, long biasOff, MemorySegment res, boolean relu,
                       MemorySegment edge, long edgeOff) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        for (int kk = 0; kk < kc; kk++) {
            long bo = bOff + (long) kk * (NR * 4);
            long ao = aOff + (long) kk * (MR * 4);
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bo, LE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bo + VB, LE);
            FloatVector a0 = FloatVector.broadcast(S, a.get(F32, ao));
            c00 = b0.fma(a0, c00);
            c01 = b1.fma(a0, c01);
            FloatVector a1 = FloatVector.broadcast(S, a.get(F32, ao + 4));
            c10 = b0.fma(a1, c10);
            c11 = b1.fma(a1, c11);
            FloatVector a2 = FloatVector.broadcast(S, a.get(F32, ao + 8));
            c20 = b0.fma(a2, c20);
            c21 = b1.fma(a2, c21);
            FloatVector a3 = FloatVector.broadcast(S, a.get(F32, ao + 12));
            c30 = b0.fma(a3, c30);
            c31 = b1.fma(a3, c31);
        }
        if (rows == MR && cols == NR) {
            long o0 = cOff, o1 = o0 + ldc, o2 = o1 + ldc, o3 = o2 + ldc;
            if (!first) {
                c00 = c00.add(FloatVector.fromMemorySegment(S, c, o0, LE));
                c01 = c01.add(FloatVector.fromMemorySegment(S, c, o0 + VB, LE));
                c10 = c10.add(FloatVector.fromMemorySegment(S, c, o1, LE));
                c11 = c11.add(FloatVector.fromMemorySegment(S, c, o1 + VB, LE));
                c20 = c20.add(FloatVector.fromMemorySegment(S, c, o2, LE));
                c21 = c21.add(FloatVector.fromMemorySegment(S, c, o2 + VB, LE));
                c30 = c30.add(FloatVector.fromMemorySegment(S, c, o3, LE));
                c31 = c31.add(FloatVector.fromMemorySegment(S, c, o3 + VB, LE));
            }
            if (last) {
                FloatVector bb = FloatVector.broadcast(S, bias.get(F32, biasOff));
                c00 = c00.add(bb);
                c01 = c01.add(bb);
                bb = FloatVector.broadcast(S, bias.get(F32, biasOff + 4));
                c10 = c10.add(bb);
                c11 = c11.add(bb);
                bb = FloatVector.broadcast(S, bias.get(F32, biasOff + 8));
                c20 = c20.add(bb);
                c21 = c21.add(bb);
                bb = FloatVector.broadcast(S, bias.get(F32, biasOff + 12));
                c30 = c30.add(bb);
                c31 = c31.add(bb);
                if (res != null) {
                    c00 = c00.add(FloatVector.fromMemorySegment(S, res, o0, LE));
                    c01 = c01.add(FloatVector.fromMemorySegment(S, res, o0 + VB, LE));
                    c10 = c10.add(FloatVector.fromMemorySegment(S, res, o1, LE));
                    c11 = c11.add(FloatVector.fromMemorySegment(S, res, o1 + VB, LE));
                    c20 = c20.add(FloatVector.fromMemorySegment(S, res, o2, LE));
                    c21 = c21.add(FloatVector.fromMemorySegment(S, res, o2 + VB, LE));
                    c30 = c30.add(FloatVector.fromMemorySegment(S, res, o3, LE));
                    c31 = c31.add(FloatVector.fromMemorySegment(S, res, o3 + VB, LE));
                }
                if (relu) {
                    FloatVector z = FloatVector.zero(S);
                    c00 = c00.max(z);
                    c01 = c01.max(z);
                    c10 = c10.max(z);
                    c11 = c11.max(z);
                    c20 = c20.max(z);
                    c21 = c21.max(z);
                    c30 = c30.max(z);
                    c31 = c31.max(z);
                }
            }
            c00.intoMemorySegment(c, o0, LE);
            c01.intoMemorySegment(c, o0 + VB, LE);
            c10.intoMemorySegment(c, o1, LE);
            c11.intoMemorySegment(c, o1 + VB, LE);
            c20.intoMemorySegment(c, o2, LE);
            c21.intoMemorySegment(c, o2 + VB, LE);
            c30.intoMemorySegment(c, o3, LE);
            c31.intoMemorySegment(c, o3 + VB, LE);
            return;
        }
        // Edge tile: spill the accumulators ([MR][NR] at edgeOff) and store only the valid part.
        long e = edgeOff, row = NR * 4L;
        c00.intoMemorySegment(edge, e, LE);
        c01.intoMemorySegment(edge, e + VB, LE);
        c10.intoMemorySegment(edge, e + row, LE);
        c11.intoMemorySegment(edge, e + row + VB, LE);
        c20.intoMemorySegment(edge, e + 2 * row, LE);
        c21.intoMemorySegment(edge, e + 2 * row + VB, LE);
        c30.intoMemorySegment(edge, e + 3 * row, LE);
        c31.intoMemorySegment(edge, e + 3 * row + VB, LE);
        storeEdge(edge, edgeOff, c, cOff, ldc, rows, cols, first, last, bias, biasOff, res, relu);
    }

    /** The epilogue of an edge tile, element by element, in the same order of operations as the vector one. */
    static void storeEdge(MemorySegment edge, long edgeOff, MemorySegment c, long cOff, long ldc, int rows,
                          int cols, boolean first, boolean last, MemorySegment bias, long biasOff,
                          MemorySegment res, boolean relu) {
        for (int r = 0; r < rows; r++) {
            float bv = bias.get(F32, biasOff + r * 4L);
            for (int q = 0; q < cols; q++) {
                long o = cOff + r * ldc + q * 4L;
                float v = edge.get(F32, edgeOff + ((long) r * NR + q) * 4);
                if (!first) {
                    v += c.get(F32, o);
                }
                if (last) {
                    v += bv;
                    if (res != null) {
                        v += res.get(F32, o);
                    }
                    if (relu) {
                        v = Math.max(v, 0f);
                    }
                }
                c.set(F32, o, v);
            }
        }
    }
}
