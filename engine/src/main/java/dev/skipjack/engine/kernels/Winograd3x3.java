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
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3x3, stride 1, padding 1, one group, by Winograd's F(2x2, 3x3): each 2x2 block of outputs ("tile") costs 16
 * multiplies per input channel instead of 36, so the GEMM work drops 2.25 times.
 *
 * <p>Per image: (1) the input is split into the 2x2 phase planes of its padded form ({@link Phases}), which
 * makes the 4x4 input window of tile (ty, tx) element (i, j) = phase (i % 2, j % 2) at (ty + i/2, tx + j/2):
 * contiguous across tx, so the transforms run on vectors of L tiles. (2) V = B^T d B for every tile and
 * channel, stored [16][cin][tiles]. (3) 16 GEMMs M[p] = U[p] V[p], U = G g G^T packed at construction
 * [16][cout/MR][cin][MR], on the same micro-kernel as {@link Conv2d}. (4) Y = A^T m A, then bias, residual
 * and ReLU, with the two output columns of each tile interleaved back into rows.
 *
 * <p>Accuracy: the transforms only add and subtract (G halves), so the rounding is that of a few more
 * additions per output than the direct sum; tests hold it to the same magnitude-relative bound.
 */
final class Winograd3x3 {
    private static final VectorSpecies<Float> S = Gemm.S;
    private static final int L = Gemm.L;
    private static final long VB = Gemm.VB;
    // Interleave y0, y1 -> y0[0], y1[0], y0[1], y1[1], ...: negative (exceptional) indices select the
    // second vector of the two-vector rearrange.
    private static final VectorShuffle<Float> ZIP_LO = zip(0), ZIP_HI = zip(L / 2);

    private final int cin, cout, mPanels;
    // [16][mPanels][cin][MR]: U[p] for MR output channels interleaved along cin; channels past cout are zero
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
        double[] g = new double[9];
        double[] u = new double[16];
        for (int co = 0; co < cout; co++) {
            for (int ci = 0; ci < cin; ci++) {
                for (int t = 0; t < 9; t++) {
                    g[t] = weight.get(F32, (((long) co * cin + ci) * 9 + t) * 4);
                }
                filterTransform(g, u);
                for (int p = 0; p < 16; p++) {
                    long dst = (((long) p * mPanels + co / MR) * cin + ci) * MR + co % MR;
                    packedU.set(F32, dst * 4, (float) u[p]);
                }
            }
        }
    }

    /** U = G g G^T, G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], in double. */
    static void filterTransform(double[] g, double[] u) {
        double[] t = new double[12]; // G g: [4][3]
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

    private static VectorShuffle<Float> zip(int from) {
        int[] idx = new int[L];
        for (int k = 0; k < L; k++) {
            idx[k] = (k & 1) == 0 ? from + k / 2 : from + k / 2 - L;
        }
        return VectorShuffle.fromArray(S, idx, 0);
    }

    // Geometry of one forward, all in floats unless named bytes.
    private record Geometry(int n, int h, int w, int th, int tw, int tiles, int tp, int hp, int wp, int nc,
                            long xFloats, long vFloats, long mFloats, long slotBytes) {
    }

    private Geometry geometry(int n, int h, int w) {
        int th = (h + 1) / 2, tw = (w + 1) / 2, tiles = th * tw;
        int tp = (tiles + NR - 1) / NR * NR;
        int hp = Phases.size(h, 1, 2), wp = Phases.size(w, 1, 2);
        int nc = Math.min(Conv2d.NC_PANELS, tp / NR) * NR;
        long x = (long) n * 4 * cin * hp * wp + L + 16;
        long v = (long) n * 16 * cin * tp + 16;
        long m = (long) n * 16 * mPanels * MR * tp + L + 16;
        long slot = ((long) Math.min(Conv2d.KC, cin) * nc + (long) MR * NR) * 4;
        return new Geometry(n, h, w, th, tw, tiles, tp, hp, wp, nc, round(x), round(v), round(m), round(slot) * 4);
    }

    private static long round(long floats) {
        return (floats + 15) & ~15L;
    }

    long scratchBytes(int n, int h, int w, int threads) {
        Geometry g = geometry(n, h, w);
        return (g.xFloats + g.vFloats + g.mFloats) * 4 + g.slotBytes * Math.max(1, threads);
    }

    void forward(MemorySegment in, MemorySegment out, MemorySegment res, boolean relu, int n, int h, int w,
                 MemorySegment scratch, Parallel par) {
        Geometry g = geometry(n, h, w);
        int threads = par.threads();
        synchronized (job) {
            Job j = job;
            j.g = g;
            j.in = in;
            j.out = out;
            j.res = res;
            j.relu = relu;
            j.scratch = scratch;
            j.vOff = g.xFloats * 4;
            j.mOff = j.vOff + g.vFloats * 4;
            j.slot0 = j.mOff + g.mFloats * 4;
            int nBlocks = (g.tiles + g.nc - 1) / g.nc;
            int mBlockPanels = Math.min(mPanels, Conv2d.MC / MR);
            while (mBlockPanels > 1 && (long) n * 16 * nBlocks * ((mPanels + mBlockPanels - 1) / mBlockPanels)
                    < 2L * threads) {
                mBlockPanels = (mBlockPanels + 1) / 2;
            }
            j.nBlocks = nBlocks;
            j.mBlockPanels = mBlockPanels;
            j.mBlocks = (mPanels + mBlockPanels - 1) / mBlockPanels;
            try {
                for (int stage = 0; stage < 4; stage++) {
                    j.stage = stage;
                    j.items = switch (stage) {
                        case 0 -> n * 4 * cin;            // phase planes
                        case 1 -> n * cin;                // input transform per channel
                        case 2 -> n * 16 * j.mBlocks * nBlocks; // GEMM tasks
                        default -> n * cout;              // output transform per channel
                    };
                    j.next.set(0);
                    j.parts = Math.min(threads, j.items);
                    par.forEach(j.parts, j);
                }
            } finally {
                j.in = j.out = j.res = j.scratch = null;
            }
        }
    }

    private final class Job implements Parallel.Task {
        Geometry g;
        MemorySegment in, out, res, scratch;
        boolean relu;
        long vOff, mOff, slot0;
        int stage, items, parts, nBlocks, mBlocks, mBlockPanels;
        final AtomicInteger next = new AtomicInteger();

        @Override
        public void run(int slot) {
            if (stage == 0) {
                // Contiguous ranges of planes, one per thread, like Conv2d's phase pass.
                int p0 = (int) ((long) items * slot / parts), p1 = (int) ((long) items * (slot + 1) / parts);
                Phases.split(in, scratch, 0, cin, g.h, g.w, 2, 1, 2, p0, p1);
                if (slot == parts - 1) {
                    long planes = (long) items * g.hp * g.wp;
                    Phases.zero(scratch, planes * 4, g.xFloats - planes);
                }
                return;
            }
            for (int t; (t = next.getAndIncrement()) < items; ) {
                switch (stage) {
                    case 1 -> inputTransform(t / cin, t % cin);
                    case 2 -> gemm(t, slot0 + slot * g.slotBytes);
                    default -> outputTransform(t / cout, t % cout);
                }
            }
        }

        /** V[img][p][ci][t] = (B^T d B)[p] for the tiles t of one channel. */
        private void inputTransform(int img, int ci) {
            long plane = (long) g.hp * g.wp * 4;
            long p00 = (((long) img * 4) * cin + ci) * plane;   // phase (0, 0); phase (py, px) is + (2 py + px) cin planes
            long ph = cin * plane;
            long rowB = g.wp * 4L;
            long vStride = (long) cin * g.tp * 4;      // between positions p
            long v0 = vOff + (((long) img * 16 * cin) + ci) * g.tp * 4;
            for (int ty = 0; ty < g.th; ty++) {
                for (int tx = 0; tx < g.tw; tx += L) {
                    long e = p00 + (long) ty * rowB + tx * 4L;   // phase element (ty, tx)
                    int count = Math.min(L, g.tw - tx);
                    long t0 = v0 + ((long) ty * g.tw + tx) * 4;
                    // Input row i of the 4x4 window is phase row parity i % 2 at offset i / 2: rows 0, 1, 2, 3 =
                    // (e, e + 2ph, e + rowB, e + 2ph + rowB). r = B^T d: r0 = d0 - d2, r1 = d1 + d2,
                    // r2 = d2 - d1, r3 = d1 - d3; then V = r B per row.
                    inputRow(e, e + rowB, ph, false, t0, vStride, count);
                    inputRow(e + 2 * ph, e + rowB, ph, true, t0 + 4 * vStride, vStride, count);
                    inputRow(e + rowB, e + 2 * ph, ph, false, t0 + 8 * vStride, vStride, count);
                    inputRow(e + 2 * ph, e + 2 * ph + rowB, ph, false, t0 + 12 * vStride, vStride, count);
                }
            }
        }

        /**
         * One row of B^T d B for L tiles: r_j = P_j -/+ Q_j for window columns j (column j is phase column
         * parity j % 2, offset j / 2, i.e. + ph for odd j, + 4 bytes for j >= 2), then
         * V_0 = r_0 - r_2, V_1 = r_1 + r_2, V_2 = r_2 - r_1, V_3 = r_1 - r_3 at {@code v}, {@code vs} apart.
         * Only offsets cross this method's boundary, never vectors: a vector argument that C2 does not
         * inline is boxed, and its operations fall back to slow Java code.
         */
        private void inputRow(long p, long q, long ph, boolean add, long v, long vs, int count) {
            MemorySegment x = scratch;
            FloatVector p0 = FloatVector.fromMemorySegment(S, x, p, LE);
            FloatVector p1 = FloatVector.fromMemorySegment(S, x, p + ph, LE);
            FloatVector p2 = FloatVector.fromMemorySegment(S, x, p + 4, LE);
            FloatVector p3 = FloatVector.fromMemorySegment(S, x, p + ph + 4, LE);
            FloatVector q0 = FloatVector.fromMemorySegment(S, x, q, LE);
            FloatVector q1 = FloatVector.fromMemorySegment(S, x, q + ph, LE);
            FloatVector q2 = FloatVector.fromMemorySegment(S, x, q + 4, LE);
            FloatVector q3 = FloatVector.fromMemorySegment(S, x, q + ph + 4, LE);
            FloatVector r0, r1, r2, r3;
            if (add) {
                r0 = p0.add(q0);
                r1 = p1.add(q1);
                r2 = p2.add(q2);
                r3 = p3.add(q3);
            } else {
                r0 = p0.sub(q0);
                r1 = p1.sub(q1);
                r2 = p2.sub(q2);
                r3 = p3.sub(q3);
            }
            if (count == L) {
                r0.sub(r2).intoMemorySegment(x, v, LE);
                r1.add(r2).intoMemorySegment(x, v + vs, LE);
                r2.sub(r1).intoMemorySegment(x, v + 2 * vs, LE);
                r1.sub(r3).intoMemorySegment(x, v + 3 * vs, LE);
            } else {
                VectorMask<Float> m = S.indexInRange(0, count);
                r0.sub(r2).intoMemorySegment(x, v, LE, m);
                r1.add(r2).intoMemorySegment(x, v + vs, LE, m);
                r2.sub(r1).intoMemorySegment(x, v + 2 * vs, LE, m);
                r1.sub(r3).intoMemorySegment(x, v + 3 * vs, LE, m);
            }
        }

        /** One block of one of the 16 GEMMs: M[img][p][co][t] = sum_ci U[p][co][ci] V[img][p][ci][t]. */
        private void gemm(int t, long slotOff) {
            int nb = t % nBlocks;
            t /= nBlocks;
            int mb = t % mBlocks;
            t /= mBlocks;
            int p = t % 16, img = t / 16;
            int q0 = nb * g.nc, qn = Math.min(g.nc, g.tp - q0);
            int jPanels = qn / NR;
            int i0 = mb * mBlockPanels, i1 = Math.min(mPanels, i0 + mBlockPanels);
            long bp = slotOff, tmp = slotOff + (long) Math.min(Conv2d.KC, cin) * g.nc * 4;
            long vRows = vOff + (((long) img * 16 + p) * cin) * g.tp * 4;
            long mRows = mOff + (((long) img * 16 + p) * mPanels * MR) * g.tp * 4;
            long ldm = g.tp * 4L;
            for (int k0 = 0; k0 < cin; k0 += Conv2d.KC) {
                int kc = Math.min(Conv2d.KC, cin - k0);
                long panelBytes = (long) kc * NR * 4;
                for (int kk = 0; kk < kc; kk++) {
                    long src = vRows + ((long) (k0 + kk) * g.tp + q0) * 4;
                    long dst = bp + (long) kk * NR * 4;
                    for (int jp = 0; jp < jPanels; jp++, src += NR * 4L, dst += panelBytes) {
                        FloatVector.fromMemorySegment(S, scratch, src, LE).intoMemorySegment(scratch, dst, LE);
                        FloatVector.fromMemorySegment(S, scratch, src + VB, LE)
                                .intoMemorySegment(scratch, dst + VB, LE);
                    }
                }
                for (int jp = 0; jp < jPanels; jp++) {
                    for (int i = i0; i < i1; i++) {
                        long a = (((long) p * mPanels + i) * cin + k0) * MR * 4;
                        long c = mRows + ((long) i * MR * g.tp + q0 + (long) jp * NR) * 4;
                        Gemm.tile(packedU, a, scratch, bp + jp * panelBytes, NR * 4L, kc, scratch, c, ldm, k0 > 0,
                                scratch, tmp);
                    }
                }
            }
        }

        /** Y = A^T m A for the tiles of one output channel, then bias, residual, ReLU into out. */
        private void outputTransform(int img, int co) {
            long mStride = (long) mPanels * MR * g.tp * 4; // between positions p
            long m0 = mOff + (((long) img * 16 * mPanels * MR) + co) * g.tp * 4;
            float bv = bias.get(F32, co * 4L);
            int oh = g.h, ow = g.w;
            long outPlane = (((long) img * cout) + co) * oh * ow * 4;
            for (int ty = 0; ty < g.th; ty++) {
                for (int tx = 0; tx < g.tw; tx += L) {
                    long e = m0 + ((long) ty * g.tw + tx) * 4;
                    int x0 = 2 * tx, cols = Math.min(2 * L, ow - x0);
                    int oy = 2 * ty;
                    outputRow(e, mStride, false, bv, outPlane + ((long) oy * ow + x0) * 4, cols);
                    if (oy + 1 < oh) {
                        outputRow(e, mStride, true, bv, outPlane + ((long) (oy + 1) * ow + x0) * 4, cols);
                    }
                }
            }
        }

        /**
         * One output row of L tiles: t_j = m0j + m1j + m2j (top) or m1j - m2j - m3j (bottom) from the 16
         * GEMM results at {@code e}, {@code ms} apart (position p = 4 i + j); y_0 = t_0 + t_1 + t_2 and
         * y_1 = t_1 - t_2 - t_3 are the even and odd output columns, interleaved, biased, plus residual,
         * ReLU, stored as {@code cols} floats at byte {@code off} of out. Scalar arguments only (see
         * {@link #inputRow}).
         */
        private void outputRow(long e, long ms, boolean bottom, float bias, long off, int cols) {
            MemorySegment m = scratch;
            long a = e + (bottom ? 4 : 0) * ms, b = e + (bottom ? 8 : 4) * ms, c = e + (bottom ? 12 : 8) * ms;
            FloatVector t0, t1, t2, t3;
            if (bottom) {
                t0 = ld(m, a).sub(ld(m, b)).sub(ld(m, c));
                t1 = ld(m, a + ms).sub(ld(m, b + ms)).sub(ld(m, c + ms));
                t2 = ld(m, a + 2 * ms).sub(ld(m, b + 2 * ms)).sub(ld(m, c + 2 * ms));
                t3 = ld(m, a + 3 * ms).sub(ld(m, b + 3 * ms)).sub(ld(m, c + 3 * ms));
            } else {
                t0 = ld(m, a).add(ld(m, b)).add(ld(m, c));
                t1 = ld(m, a + ms).add(ld(m, b + ms)).add(ld(m, c + ms));
                t2 = ld(m, a + 2 * ms).add(ld(m, b + 2 * ms)).add(ld(m, c + 2 * ms));
                t3 = ld(m, a + 3 * ms).add(ld(m, b + 3 * ms)).add(ld(m, c + 3 * ms));
            }
            FloatVector bv = FloatVector.broadcast(S, bias);
            FloatVector even = t0.add(t1).add(t2).add(bv), odd = t1.sub(t2).sub(t3).add(bv);
            FloatVector lo = even.rearrange(ZIP_LO, odd), hi = even.rearrange(ZIP_HI, odd);
            int n0 = Math.min(L, cols), n1 = cols - L;
            if (n0 == L) {
                if (res != null) {
                    lo = lo.add(FloatVector.fromMemorySegment(S, res, off, LE));
                }
                if (relu) {
                    lo = lo.max(0f);
                }
                lo.intoMemorySegment(out, off, LE);
            } else {
                VectorMask<Float> mk = S.indexInRange(0, n0);
                if (res != null) {
                    lo = lo.add(FloatVector.fromMemorySegment(S, res, off, LE, mk));
                }
                if (relu) {
                    lo = lo.max(0f);
                }
                lo.intoMemorySegment(out, off, LE, mk);
            }
            if (n1 <= 0) {
                return;
            }
            long off1 = off + VB;
            if (n1 == L) {
                if (res != null) {
                    hi = hi.add(FloatVector.fromMemorySegment(S, res, off1, LE));
                }
                if (relu) {
                    hi = hi.max(0f);
                }
                hi.intoMemorySegment(out, off1, LE);
            } else {
                VectorMask<Float> mk = S.indexInRange(0, n1);
                if (res != null) {
                    hi = hi.add(FloatVector.fromMemorySegment(S, res, off1, LE, mk));
                }
                if (relu) {
                    hi = hi.max(0f);
                }
                hi.intoMemorySegment(out, off1, LE, mk);
            }
        }
    }

    // A one-line alias C2 always inlines (6 bytes of bytecode, far below every inlining limit).
    private static FloatVector ld(MemorySegment s, long off) {
        return FloatVector.fromMemorySegment(S, s, off, LE);
    }
}
