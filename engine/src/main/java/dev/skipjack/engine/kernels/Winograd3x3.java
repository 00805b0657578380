package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.Gemm.F32;
import static dev.skipjack.engine.kernels.Gemm.LE;
import static dev.skipjack.engine.kernels.Gemm.MR;
import static dev.skipjack.engine.kernels.Gemm.NR;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3x3, stride 1, padding 1, one group, by Winograd's F(2x2, 3x3): each 2x2 block of outputs ("tile") costs 16
 * multiplies per input channel instead of 36, so the GEMM work drops 2.25 times.
 *
 * <p>One pass: one task per block of NC tiles (a multiple of the micro-kernel's NR columns) and block of output
 * channels does everything in its own scratch, sized to stay in L2. It splits the input rows its tiles read
 * into the 2x2 phase planes of the padded input ({@link Phases}), which makes the 4x4 input window of tile
 * (ty, tx) element (i, j) = phase (i % 2, j % 2) at (ty + i/2, tx + j/2): contiguous across tx, so the
 * transforms run on vectors of L tiles. Then V = B^T d B for its tiles and all input channels, [16][cin][NC];
 * the 16 GEMMs M[p] = U[p] V[p] for its channels, [16][channels][NC], on the same micro-kernel as
 * {@link Conv2d} with V's rows read in place as B; then Y = A^T m A, bias, residual and ReLU into out, the two
 * output columns of each tile interleaved back into rows. U = G g G^T is packed at construction
 * [16][cin/KC][cout/MR][KC][MR].
 *
 * <p>Why fused: with the steps as separate passes over whole-image buffers (V and M are 3 MB each for
 * ResNet's first stage, beyond L2) every step went through memory and behind a barrier of its own, and a
 * thread read what the other had written, from the other core's cache. Fused, a task's data stay in its
 * core's L2 and one barrier is left. A block's phase strip and V are recomputed by every channel block of it;
 * there are several only when the tiles alone give too few tasks (the small late layers).
 *
 * <p>Accuracy: the transforms only add and subtract (G halves), so the rounding is that of a few more
 * additions per output than the direct sum; tests hold it to the same magnitude-relative bound.
 */
final class Winograd3x3 {
    private static final VectorSpecies<Float> S = Gemm.S;
    private static final int L = Gemm.L;
    private static final long VB = Gemm.VB;

    private final int cin, cout, mPanels;
    // [16][depth block][mPanels][kc][MR]: U[p] for MR output channels interleaved along cin, cut into depth
    // blocks of Conv2d.KC input channels (the last one shorter), depth block outermost as in Conv2d (one
    // contiguous run per depth block for the prefetcher); channels past cout are zero
    private final MemorySegment packedU;
    // [cout], owned by the Conv2d
    private final MemorySegment bias;
    private final Job job = new Job();

    Winograd3x3(int cin, int cout, MemorySegment weight, MemorySegment bias, Arena arena) {
        this.cin = cin;
        this.cout = cout;
        this.mPanels = (cout + MR - 1) / MR;
        this.bias = bias;
        this.packedU = arena.allocate(16L * mPanels * cin * MR * 4, 64);
        // Panel by panel and depth block by depth block, U[p]'s [kc][MR] built in arrays and copied out in one
        // piece (channels past cout stay zero).
        int kcMax = Math.min(Conv2d.KC, cin);
        float[] rows = new float[MR * cin * 9];
        float[][] blocks = new float[16][kcMax * MR];
        double[] g = new double[9];
        double[] u = new double[16];
        double[] t = new double[12];
        for (int i = 0; i < mPanels; i++) {
            int valid = Math.min(MR, cout - i * MR);
            MemorySegment.copy(weight, ValueLayout.JAVA_FLOAT_UNALIGNED, (long) i * MR * cin * 9 * 4, rows, 0,
                    valid * cin * 9);
            for (int k0 = 0; k0 < cin; k0 += Conv2d.KC) {
                int kc = Math.min(Conv2d.KC, cin - k0);
                if (valid < MR) { // the last panel: its lanes past cout stay zero
                    for (float[] b : blocks) {
                        Arrays.fill(b, 0f);
                    }
                }
                for (int lane = 0; lane < valid; lane++) {
                    for (int ci = k0; ci < k0 + kc; ci++) {
                        for (int tap = 0; tap < 9; tap++) {
                            g[tap] = rows[(lane * cin + ci) * 9 + tap];
                        }
                        filterTransform(g, u, t);
                        for (int p = 0; p < 16; p++) {
                            blocks[p][(ci - k0) * MR + lane] = (float) u[p];
                        }
                    }
                }
                for (int p = 0; p < 16; p++) {
                    MemorySegment.copy(blocks[p], 0, packedU, ValueLayout.JAVA_FLOAT_UNALIGNED,
                            uOffset(p, i, k0, kc) * 4, kc * MR);
                }
            }
        }
    }

    /** Float offset in packedU of U[p]'s panel i, depth block at k0 (of kc rows). */
    private long uOffset(int p, int i, int k0, int kc) {
        return ((long) p * cin + k0) * mPanels * MR + (long) i * kc * MR;
    }

    /** U = G g G^T, G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], in double; t: 12 doubles of scratch. */
    static void filterTransform(double[] g, double[] u, double[] t) {
        // t = G g: [4][3]
        for (int c = 0; c < 3; c++) {
            double g0 = g[c], g1 = g[3 + c], g2 = g[6 + c];
            t[c] = g0;
            t[3 + c] = 0.5 * (g0 + g1 + g2);
            t[6 + c] = 0.5 * (g0 - g1 + g2);
            t[9 + c] = g2;
        }
        for (int r = 0; r < 4; r++) {
            double t0 = t[3 * r], t1 = t[3 * r + 1], t2 = t[3 * r + 2];
            u[4 * r] = t0;
            u[4 * r + 1] = 0.5 * (t0 + t1 + t2);
            u[4 * r + 2] = 0.5 * (t0 - t1 + t2);
            u[4 * r + 3] = t2;
        }
    }

    /**
     * Geometry of one forward, in floats unless named bytes: tw tiles per tile row, tiles in all; phase rows
     * wp wide; tiles per block nc (a multiple of NR), nBlocks of them per image; channel blocks of
     * mBlockPanels panels of MR. With strips (one channel block), per task slot: the block's strip of the phase
     * planes [4][cin][stripRows][wp] (xFloats, with slack); otherwise the phase planes of the whole input,
     * [n][4][cin][hp][wp] (xFloats, with slack) come first, shared. Then per slot V [16][cin][nc],
     * M [16][mBlockPanels * MR][nc], and one MR x NR tile for the GEMM or, later, the output transform's rows
     * [4][rowStride].
     */
    private record Geometry(int n, int h, int w, int threads, int tw, int tiles, int hp, int wp, int nc,
                            int nBlocks, int mBlockPanels, int mBlocks, int rowStride, boolean strips,
                            long xFloats, long vFloats, long mFloats, long slotBytes) {
        int tasks() {
            return n * nBlocks * mBlocks;
        }
    }

    // A task's V and M, 16 (cin + cout) nc floats, up to this: 1 MB, the L2 of this machine's cores. Half that
    // (the earlier default, V and M with room beside them) made 64-tile blocks on ResNet's first stage instead
    // of 128, and ResNet-18 ran 2-4% slower, ResNet-50 1-3% (whole passes, two engines alternating in one
    // process); twice it was 1-4% slower again. The property is for tuning experiments, not for users.
    private static final long BLOCK_FLOATS = Long.getLong("skipjack.winograd.blockFloats", 256 * 1024);
    // Tasks per thread the channels are split into at least when the tiles give too few (Conv2d's default is
    // 2). Each channel block recomputes its tiles' V, and on ResNet's 14x14 layers (two tile blocks) one task
    // per thread took them 5-26% faster inside whole passes (two engines alternating, 2 threads; ResNet-18
    // 3.4% faster in all, ResNet-50 1.6%). The property is for tuning experiments, not for users.
    static final int TASKS_PER_THREAD = Integer.getInteger("skipjack.winograd.tasksPerThread", 1);

    // The last shape's geometry (immutable), so that Conv2d's scratch check and a forward allocate nothing.
    private volatile Geometry last;

    private Geometry geometryFor(int n, int h, int w, int threads) {
        Geometry g = last;
        if (g == null || g.n != n || g.h != h || g.w != w || g.threads != threads) {
            g = geometry(n, h, w, threads);
            last = g;
        }
        return g;
    }

    private Geometry geometry(int n, int h, int w, int threads) {
        int th = (h + 1) / 2, tw = (w + 1) / 2, tiles = th * tw;
        int hp = Phases.size(h, 1, 2), wp = Phases.size(w, 1, 2);
        int fit = (int) Math.max(1, BLOCK_FLOATS / (16L * (cin + cout)) / NR);
        int nc = Math.min(Math.min(fit, 4), (tiles + NR - 1) / NR) * NR;
        int nBlocks = (tiles + nc - 1) / nc;
        // Too few tile blocks for the threads: split the channels too, each block recomputing its V.
        int mBlockPanels = Conv2d.channelBlockPanels(mPanels, mPanels, (long) n * nBlocks, threads, TASKS_PER_THREAD);
        int mBlocks = (mPanels + mBlockPanels - 1) / mBlockPanels;
        // Each task splits the input rows its tiles read, unless the channels are split too: then every
        // channel block would split the same rows again, and one shared pass over the input comes first. On
        // ResNet-18 (2 threads) the strips took the 56x56 layers 7-12% faster, and the smaller ones, whose
        // channels are split, 6-13% slower. A block of nc tiles touches at most ceil(nc / tw) + 1 tile rows,
        // and tile row ty reads phase rows ty and ty + 1. The loads of a run's last vector may read past the
        // strip or planes: slack.
        boolean strips = mBlocks == 1;
        int stripRows = Math.min((nc + tw - 1) / tw + 1, th) + 1;
        long x = (strips ? 4L * cin * stripRows * wp : (long) n * 4 * cin * hp * wp) + L + 16;
        long v = 16L * cin * nc;
        // M rows are read L lanes at a time from a tile run's start: L floats of slack after the last.
        long m = 16L * mBlockPanels * MR * nc + L;
        // After M: the GEMM's MR x NR accumulation tile, later the output transform's four rows of up to a
        // run of tiles (the shorter of a tile row and a block) in whole vectors.
        int rowStride = (Math.min(tw, nc) + L - 1) / L * L;
        long slot = (strips ? round(x) : 0) + round(v) + round(m) + Math.max((long) MR * NR, 4L * rowStride);
        return new Geometry(n, h, w, threads, tw, tiles, hp, wp, nc, nBlocks, mBlockPanels, mBlocks, rowStride,
                strips, round(x), round(v), round(m), round(slot) * 4);
    }

    private static long round(long floats) {
        return (floats + 15) & ~15L;
    }

    long scratchBytes(int n, int h, int w, int threads) {
        Geometry g = geometryFor(n, h, w, threads);
        return (g.strips ? 0 : g.xFloats * 4) + g.slotBytes * Math.max(1, threads);
    }

    void forward(MemorySegment in, MemorySegment out, MemorySegment res, boolean relu, int n, int h, int w,
                 MemorySegment scratch, Parallel par) {
        int threads = par.threads();
        synchronized (job) {
            Geometry g = geometryFor(n, h, w, threads);
            Job j = job;
            j.g = g;
            j.in = in;
            j.out = out;
            j.res = res;
            j.relu = relu;
            j.scratch = scratch;
            try {
                if (!g.strips) {
                    j.stage = 0;
                    j.items = n * 4 * cin; // phase planes
                    j.parts = Math.min(threads, j.items);
                    par.forEach(j.parts, j);
                }
                j.stage = 1;
                j.items = g.tasks();
                j.next.set(0);
                par.forEach(Math.min(threads, j.items), j);
            } finally {
                j.in = j.out = j.res = j.scratch = null;
            }
        }
    }

    private final class Job implements Parallel.Task {
        Geometry g;
        MemorySegment in, out, res, scratch;
        boolean relu;
        int stage, items, parts;
        final AtomicInteger next = new AtomicInteger();

        @Override
        public void run(int slot) {
            if (stage == 0) {
                Phases.splitShare(in, scratch, cin, g.h, g.w, 2, 1, 2, items, slot, parts,
                        g.xFloats - (long) items * g.hp * g.wp);
                return;
            }
            long slotOff = (g.strips ? 0 : g.xFloats * 4) + slot * g.slotBytes;
            for (int t; (t = next.getAndIncrement()) < items; ) {
                task(t, slotOff);
            }
        }

        /** Tile block nb, channel block mb of image img: V, the 16 GEMMs, and the output transform. */
        private void task(int t, long slotOff) {
            int nb = t % g.nBlocks;
            t /= g.nBlocks;
            int mb = t % g.mBlocks;
            int img = t / g.mBlocks;
            int t0 = nb * g.nc, qn = Math.min(g.nc, g.tiles - t0);
            int i0 = mb * g.mBlockPanels, i1 = Math.min(mPanels, i0 + g.mBlockPanels);
            long v = slotOff + (g.strips ? g.xFloats * 4 : 0), m = v + g.vFloats * 4, tmp = m + g.mFloats * 4;
            // The phase rows [ty0, ty0 + rows) at x: the task's strip, or the image's whole planes.
            long x;
            int ty0, rows;
            if (g.strips) {
                x = slotOff;
                ty0 = t0 / g.tw;
                rows = (t0 + qn - 1) / g.tw - ty0 + 2;
                // [4][cin][rows][wp]: the task reads its input itself, so no pass over the whole layer (and no
                // barrier) comes first, and what the transform reads is in this core's cache.
                Phases.split(in, scratch, x, cin, g.h, g.w, 2, 1, 2, img * 4 * cin, (img + 1) * 4 * cin, ty0, rows);
            } else {
                x = (long) img * 4 * cin * g.hp * g.wp * 4;
                ty0 = 0;
                rows = g.hp;
            }
            for (int ci = 0; ci < cin; ci++) {
                inputTransform(x, ci, ty0, rows, t0, qn, v + (long) ci * g.nc * 4);
            }
            gemm(v, m, i0, i1, (qn + NR - 1) / NR, tmp);
            int co1 = Math.min(cout, i1 * MR);
            for (int co = i0 * MR; co < co1; co++) {
                outputTransform(img, co, t0, qn, m + (long) (co - i0 * MR) * g.nc * 4, tmp);
            }
        }

        /**
         * V[p][ci][t - t0] = (B^T d B)[p] for tiles [t0, t0 + qn) of channel ci, written from {@code v} (the
         * block's row of channel ci at p = 0), from phase planes of {@code rows} rows at byte x that start at
         * phase row ty0 (the task's strip, or the image's whole planes); runs of tiles along a tile row, L at a
         * time.
         */
        private void inputTransform(long x, int ci, int ty0, int rows, int t0, int qn, long v) {
            long plane = (long) rows * g.wp * 4;
            long p00 = x + ci * plane;   // phase (0, 0); phase (py, px) is + (2 py + px) cin planes
            long ph = cin * plane;
            long rowB = g.wp * 4L;
            long vStride = (long) cin * g.nc * 4;      // between positions p
            for (int t = t0, end = t0 + qn; t < end; ) {
                int ty = t / g.tw, tx = t - ty * g.tw;
                int run = Math.min(g.tw - tx, end - t);
                long e = p00 + (long) (ty - ty0) * rowB + tx * 4L;   // phase element (ty, tx)
                long t1 = v + (long) (t - t0) * 4;
                // Input row i of the 4x4 window is phase row parity i % 2 at offset i / 2: rows 0, 1, 2, 3 =
                // (e, e + 2ph, e + rowB, e + 2ph + rowB). r = B^T d: r0 = d0 - d2, r1 = d1 + d2,
                // r2 = d2 - d1, r3 = d1 - d3; then V = r B per row.
                inputRow(e, e + rowB, ph, false, t1, vStride, run);
                inputRow(e + 2 * ph, e + rowB, ph, true, t1 + 4 * vStride, vStride, run);
                inputRow(e + rowB, e + 2 * ph, ph, false, t1 + 8 * vStride, vStride, run);
                inputRow(e + 2 * ph, e + 2 * ph + rowB, ph, false, t1 + 12 * vStride, vStride, run);
                t += run;
            }
        }

        /**
         * One row of B^T d B for a run of {@code run} tiles along a tile row, L at a time: r_j = P_j -/+ Q_j for
         * window columns j (column j is phase column parity j % 2, offset j / 2, i.e. + ph for odd j, + 4 bytes
         * for j >= 2), then V_0 = r_0 - r_2, V_1 = r_1 + r_2, V_2 = r_2 - r_1, V_3 = r_1 - r_3 at {@code v},
         * {@code vs} apart. Past the run's end the loads take neighbouring data (the phase strip has slack at
         * their end); the stores are masked to the run (unmasked, the last vector of a block's row would run
         * into the next channel's row, written before).
         *
         * <p>The loop over the run is in here, its offsets linear in the counter, so that C2 checks the segment
         * bounds once per loop rather than on every access (per call, the checks took a quarter of a
         * first-stage layer's time). Only offsets cross this method's boundary, never vectors: a vector
         * argument that C2 does not inline is boxed, and its operations fall back to slow Java code.
         */
        private void inputRow(long p, long q, long ph, boolean add, long v, long vs, int run) {
            MemorySegment x = scratch;
            for (int r = 0; r < run; r += L) {
                long o = r * 4L;
                VectorMask<Float> m = S.indexInRange(r, run);
                FloatVector p0 = FloatVector.fromMemorySegment(S, x, p + o, LE);
                FloatVector p1 = FloatVector.fromMemorySegment(S, x, p + ph + o, LE);
                FloatVector p2 = FloatVector.fromMemorySegment(S, x, p + 4 + o, LE);
                FloatVector p3 = FloatVector.fromMemorySegment(S, x, p + ph + 4 + o, LE);
                FloatVector q0 = FloatVector.fromMemorySegment(S, x, q + o, LE);
                FloatVector q1 = FloatVector.fromMemorySegment(S, x, q + ph + o, LE);
                FloatVector q2 = FloatVector.fromMemorySegment(S, x, q + 4 + o, LE);
                FloatVector q3 = FloatVector.fromMemorySegment(S, x, q + ph + 4 + o, LE);
                FloatVector r0 = add ? p0.add(q0) : p0.sub(q0);
                FloatVector r1 = add ? p1.add(q1) : p1.sub(q1);
                FloatVector r2 = add ? p2.add(q2) : p2.sub(q2);
                FloatVector r3 = add ? p3.add(q3) : p3.sub(q3);
                r0.sub(r2).intoMemorySegment(x, v + o, LE, m);
                r1.add(r2).intoMemorySegment(x, v + vs + o, LE, m);
                r2.sub(r1).intoMemorySegment(x, v + 2 * vs + o, LE, m);
                r1.sub(r3).intoMemorySegment(x, v + 3 * vs + o, LE, m);
            }
        }

        /**
         * M[p][co][t] = sum_ci U[p][co][ci] V[p][ci][t] for the channel panels [i0, i1) and the block's jPanels
         * column panels: V's rows (nc floats apart) are the micro-kernel's B as they are, each panel (up to KC
         * rows of NR) in L1 while the U panels of the block stream past it.
         */
        private void gemm(long v, long m, int i0, int i1, int jPanels, long tmp) {
            long ld = g.nc * 4L;
            long mStride = (long) g.mBlockPanels * MR * ld;
            for (int p = 0; p < 16; p++) {
                long vp = v + (long) p * cin * ld, mp = m + p * mStride;
                for (int k0 = 0; k0 < cin; k0 += Conv2d.KC) {
                    int kc = Math.min(Conv2d.KC, cin - k0);
                    for (int jp = 0; jp < jPanels; jp++) {
                        long b = vp + k0 * ld + jp * NR * 4L;
                        for (int i = i0; i < i1; i++) {
                            long a = uOffset(p, i, k0, kc) * 4;
                            long c = mp + (long) (i - i0) * MR * ld + jp * NR * 4L;
                            Gemm.tile(packedU, a, scratch, b, ld, kc, scratch, c, ld, k0 > 0, scratch, tmp);
                        }
                    }
                }
            }
        }

        /**
         * Y = A^T m A for tiles [t0, t0 + qn) of output channel co, whose 16 GEMM results start at {@code m}
         * (p = 0), then bias, residual, ReLU into out. Per run of tiles along a tile row and per output row of
         * it (top, bottom): {@link #columnSums} into the task's row buffer at {@code t}, then {@link #finishRow}.
         */
        private void outputTransform(int img, int co, int t0, int qn, long m, long t) {
            long mStride = (long) g.mBlockPanels * MR * g.nc * 4; // between positions p
            long ts = g.rowStride * 4L;
            float bv = bias.get(F32, co * 4L);
            int oh = g.h, ow = g.w;
            long outPlane = (((long) img * cout) + co) * oh * ow * 4;
            for (int tt = t0, end = t0 + qn; tt < end; ) {
                int ty = tt / g.tw, tx = tt - ty * g.tw;
                int run = Math.min(g.tw - tx, end - tt);
                int oy = 2 * ty, x0 = 2 * tx, cols = Math.min(2 * run, ow - x0);
                long e = m + (long) (tt - t0) * 4;
                columnSums(e, e + 4 * mStride, e + 8 * mStride, mStride, false, t, ts, run);
                finishRow(t, ts, bv, outPlane + ((long) oy * ow + x0) * 4, cols);
                if (oy + 1 < oh) {
                    columnSums(e + 4 * mStride, e + 8 * mStride, e + 12 * mStride, mStride, true, t, ts, run);
                    finishRow(t, ts, bv, outPlane + ((long) (oy + 1) * ow + x0) * 4, cols);
                }
                tt += run;
            }
        }

        /**
         * For a run of tiles, L at a time: t_j = a_j + b_j + c_j, or a_j - b_j - c_j when {@code sub}, for
         * window columns j = 0..3 ({@code ms} apart), into row j of the buffer at {@code t} (rows {@code ts}
         * bytes apart). Whole vectors: the last may read past the run (M has slack) and write past it (the
         * buffer holds whole vectors).
         *
         * <p>Why separate from {@link #finishRow}, and loops inside: one method doing both per vector grew past
         * what C2 compiled with every vector in registers, and kept them on the heap instead (tens of MB per
         * inference, the layer several times slower, in some runs only); and a call per vector checked the
         * segment bounds on every access, where a loop with offsets linear in its counter checks them once.
         * Only offsets cross the methods' boundaries, never vectors.
         */
        private void columnSums(long a, long b, long c, long ms, boolean sub, long t, long ts, int run) {
            MemorySegment m = scratch;
            for (int r = 0; r < run; r += L) {
                long o = r * 4L;
                for (int j = 0; j < 4; j++) {
                    long oj = o + j * ms;
                    FloatVector x = FloatVector.fromMemorySegment(S, m, a + oj, LE);
                    FloatVector y = FloatVector.fromMemorySegment(S, m, b + oj, LE);
                    FloatVector z = FloatVector.fromMemorySegment(S, m, c + oj, LE);
                    FloatVector s = sub ? x.sub(y).sub(z) : x.add(y).add(z);
                    s.intoMemorySegment(m, t + j * ts + o, LE);
                }
            }
        }

        /**
         * From the rows t_0..t_3 at {@code t} ({@code ts} bytes apart): y_0 = t_0 + t_1 + t_2 and
         * y_1 = t_1 - t_2 - t_3 are the even and odd output columns; interleaved, biased, plus residual, ReLU,
         * stored as {@code cols} floats at byte {@code off} of out, 2L per step.
         */
        private void finishRow(long t, long ts, float bias, long off, int cols) {
            MemorySegment m = scratch;
            FloatVector bv = FloatVector.broadcast(S, bias);
            for (int i = 0; i < cols; i += 2 * L) {
                long o = i * 2L; // tile i / 2, in bytes
                FloatVector t0 = FloatVector.fromMemorySegment(S, m, t + o, LE);
                FloatVector t1 = FloatVector.fromMemorySegment(S, m, t + ts + o, LE);
                FloatVector t2 = FloatVector.fromMemorySegment(S, m, t + 2 * ts + o, LE);
                FloatVector t3 = FloatVector.fromMemorySegment(S, m, t + 3 * ts + o, LE);
                FloatVector even = t0.add(t1).add(t2).add(bv), odd = t1.sub(t2).sub(t3).add(bv);
                FloatVector lo = even.rearrange(Simd.ZIP_LO, odd), hi = even.rearrange(Simd.ZIP_HI, odd);
                long d = off + i * 4L;
                // Masked to the row: out and the residual end where the row does.
                VectorMask<Float> m0 = S.indexInRange(i, cols), m1 = S.indexInRange(i + L, cols);
                if (res != null) {
                    lo = lo.add(FloatVector.fromMemorySegment(S, res, d, LE, m0));
                    hi = hi.add(FloatVector.fromMemorySegment(S, res, d + VB, LE, m1));
                }
                if (relu) {
                    lo = lo.max(0f);
                    hi = hi.max(0f);
                }
                lo.intoMemorySegment(out, d, LE, m0);
                hi.intoMemorySegment(out, d + VB, LE, m1);
            }
        }
    }
}
