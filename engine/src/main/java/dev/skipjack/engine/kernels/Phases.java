package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.Gemm.F32;
import static dev.skipjack.engine.kernels.Gemm.LE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * Zero-padded phase planes of an NCHW input: for stride s, phase (py, px) of a channel holds the padded
 * input's rows py, py+s, ... and columns px, px+s, ..., so that any window a strided convolution (or a
 * Winograd tile) reads becomes contiguous runs. Layout [n][py][px][cin][size(h)][size(w)].
 */
final class Phases {
    private static final int L = Gemm.L;

    private Phases() {
    }

    /** Rows (or columns) of a phase plane: the padded size over the stride, rounded up. */
    static int size(int n, int pad, int s) {
        return (n + 2 * pad + s - 1) / s;
    }

    /**
     * Writes rows [y0, y0 + rows) of phase planes [p0, p1) of {@code [n][np][np][cin]} (plane index
     * p = ((img * np + py) * np + px) * cin + ci) from {@code in} [n][cin][h][w] to {@code xp}: plane p's rows
     * at byte {@code xpOff} + (p - p0) * rows * size(w, pad, s) * 4, [p1 - p0][rows][size(w, pad, s)]. Whole
     * planes are rows [0, size(h, pad, s)); a strip of them, what one Winograd task reads, fewer.
     */
    static void split(MemorySegment in, MemorySegment xp, long xpOff, int cin, int h, int w, int s, int pad, int np,
                      int p0, int p1, int y0, int rows) {
        int wp = size(w, pad, s);
        long plane = (long) rows * wp;
        // Stride 2 with both column phases: a px = 0 plane whose px = 1 twin (cin planes on) is in range too is
        // written with it, from one pass over each input row.
        boolean pairs = s == 2 && np == 2;
        for (int p = p0; p < p1; p++) {
            int ci = p % cin, rest = p / cin;
            int ph = rest % (np * np), img = rest / (np * np);
            int py = ph / np, px = ph % np;
            if (pairs && px == 1 && p - cin >= p0) {
                continue; // written with its px = 0 twin
            }
            long src = ((long) img * cin + ci) * h * w * 4;
            long dst = xpOff + (p - p0) * plane * 4;
            if (pairs && px == 0 && p + cin < p1) {
                long dst1 = dst + (long) cin * plane * 4;
                for (int y = 0; y < rows; y++) {
                    rowPair(in, src, xp, dst + (long) y * wp * 4, dst1 + (long) y * wp * 4, h, w, wp, pad, py, y0 + y);
                }
                continue;
            }
            int xLo = xLo(w, s, pad, px), xHi = xHi(w, s, pad, px);
            for (int y = 0; y < rows; y++) {
                row(in, src, xp, dst + (long) y * wp * 4, h, w, wp, s, pad, py, px, y0 + y, xLo, xHi);
            }
        }
    }

    /**
     * Row y of phases (py, 0) and (py, 1) for stride 2 ({@code wp} floats at {@code row0} and {@code row1}): phase
     * column x of px is input column 2x + px - pad, so two loads of an input run give both, the even lanes to
     * px = 0 and the odd ones to px = 1. Columns outside the input are zeros (masked loads fill them).
     */
    private static void rowPair(MemorySegment in, long src, MemorySegment xp, long row0, long row1, int h, int w,
                                int wp, int pad, int py, int y) {
        int iy = y * 2 + py - pad;
        if (iy < 0 || iy >= h) {
            zero(xp, row0, wp);
            zero(xp, row1, wp);
            return;
        }
        long in0 = src + (long) iy * w * 4;
        // The first columns, where 2x - pad < 0 (at most two for ResNet's paddings), one by one.
        int x = 0;
        for (int xv = (pad + 1) / 2; x < Math.min(xv, wp); x++) {
            int c = 2 * x - pad;
            xp.set(F32, row0 + x * 4L, c >= 0 && c < w ? in.get(F32, in0 + c * 4L) : 0f);
            xp.set(F32, row1 + x * 4L, c + 1 >= 0 && c + 1 < w ? in.get(F32, in0 + (c + 1) * 4L) : 0f);
        }
        int c = 2 * x - pad;
        for (; x + L <= wp && c + 2 * L <= w; x += L, c += 2 * L) {
            FloatVector a = FloatVector.fromMemorySegment(Gemm.S, in, in0 + c * 4L, LE);
            FloatVector b = FloatVector.fromMemorySegment(Gemm.S, in, in0 + (c + L) * 4L, LE);
            a.rearrange(Simd.EVEN, b).intoMemorySegment(xp, row0 + x * 4L, LE);
            a.rearrange(Simd.ODD, b).intoMemorySegment(xp, row1 + x * 4L, LE);
        }
        for (; x < wp; x += L, c += 2 * L) {
            pairTail(in, in0, xp, row0, row1, w, wp, x, c);
        }
    }

    /**
     * {@link #rowPair}'s blocks past the input row's last whole pair of vectors, or past the phase row's end:
     * masked loads and stores. A method of its own, no vector crossing its boundary: in rowPair's loop the masked
     * variant took C2's parse past its inlining budget (26,400 nodes at 256 bits), and a rearrange inside the
     * loop was left to late inlining, where a vector operation can come back boxed (see Simd).
     */
    private static void pairTail(MemorySegment in, long in0, MemorySegment xp, long row0, long row1, int w, int wp,
                                 int x, int c) {
        FloatVector a = FloatVector.fromMemorySegment(Gemm.S, in, in0 + c * 4L, LE, Gemm.S.indexInRange(0, w - c));
        FloatVector b = FloatVector.fromMemorySegment(Gemm.S, in, in0 + (c + L) * 4L, LE,
                Gemm.S.indexInRange(L, w - c));
        var store = Gemm.S.indexInRange(x, wp);
        a.rearrange(Simd.EVEN, b).intoMemorySegment(xp, row0 + x * 4L, LE, store);
        a.rearrange(Simd.ODD, b).intoMemorySegment(xp, row1 + x * 4L, LE, store);
    }

    /** The first phase column of phase column parity px whose input column x * s + px - pad is inside [0, w). */
    private static int xLo(int w, int s, int pad, int px) {
        return Math.min(size(w, pad, s), ceilDiv(pad - px, s));
    }

    /** One past the last phase column of parity px inside the input (see {@link #xLo}). */
    private static int xHi(int w, int s, int pad, int px) {
        return Math.max(xLo(w, s, pad, px), Math.min(size(w, pad, s), Math.floorDiv(w - 1 + pad - px, s) + 1));
    }

    /**
     * Row y of phase (py, px) of one channel, whose [h][w] input plane starts at byte {@code src} of {@code in}:
     * wp = {@code size(w, pad, s)} floats at byte {@code row} of {@code xp}. {@code wp}, {@code xLo} and
     * {@code xHi} ({@link #xLo} and {@link #xHi} of px) come from the caller, once per plane: the divisions
     * they take cost as much as a short row's copy.
     */
    private static void row(MemorySegment in, long src, MemorySegment xp, long row, int h, int w, int wp, int s,
                            int pad, int py, int px, int y, int xLo, int xHi) {
        int iy = y * s + py - pad;
        if (iy < 0 || iy >= h) {
            zero(xp, row, wp);
            return;
        }
        zero(xp, row, xLo);
        long from = src + ((long) iy * w + (long) xLo * s + px - pad) * 4;
        if (s == 1) {
            MemorySegment.copy(in, from, xp, row + xLo * 4L, (xHi - xLo) * 4L);
        } else {
            long d = row + xLo * 4L;
            int x = xLo;
            if (s == 2) {
                // Whole vectors while both loads stay inside the input row: a block at x reads input
                // columns 2x + px - pad .. 2x + px - pad + 2L - 1.
                int xMax = Math.floorDiv(w - 2 * L - px + pad, 2);
                for (; x + L <= xHi && x <= xMax; x += L, from += 2L * L * 4, d += L * 4L) {
                    FloatVector a = FloatVector.fromMemorySegment(Gemm.S, in, from, LE);
                    FloatVector b = FloatVector.fromMemorySegment(Gemm.S, in, from + Gemm.VB, LE);
                    a.rearrange(Simd.EVEN, b).intoMemorySegment(xp, d, LE);
                }
                if (x < xHi) {
                    // The rest of the row (fewer than L phase columns): loads masked to the input row,
                    // the store to the phase columns left.
                    int rem = w - (2 * x + px - pad);
                    FloatVector a = FloatVector.fromMemorySegment(Gemm.S, in, from, LE,
                            Gemm.S.indexInRange(0, rem));
                    FloatVector b = FloatVector.fromMemorySegment(Gemm.S, in, from + Gemm.VB, LE,
                            Gemm.S.indexInRange(L, rem));
                    a.rearrange(Simd.EVEN, b).intoMemorySegment(xp, d, LE, Gemm.S.indexInRange(x, xHi));
                    x = xHi;
                }
            }
            for (; x < xHi; x++, from += s * 4L, d += 4) {
                xp.set(F32, d, in.get(F32, from));
            }
        }
        zero(xp, row + xHi * 4L, wp - xHi);
    }

    /**
     * Share {@code part} of {@code parts} of a layer's phase pass, one contiguous range of the {@code planes}
     * planes per thread, into {@code xp} from offset 0 ({@link #split}); the last share also zeroes the
     * {@code slack} floats after the last plane, which the junk columns of the last panel read.
     */
    static void splitShare(MemorySegment in, MemorySegment xp, int cin, int h, int w, int s, int pad, int np,
                           int planes, int part, int parts, long slack) {
        int p0 = (int) ((long) planes * part / parts), p1 = (int) ((long) planes * (part + 1) / parts);
        int hp = size(h, pad, s);
        split(in, xp, (long) p0 * hp * size(w, pad, s) * 4, cin, h, w, s, pad, np, p0, p1, 0, hp);
        if (part == parts - 1) {
            zero(xp, (long) planes * size(h, pad, s) * size(w, pad, s) * 4, slack);
        }
    }

    static void zero(MemorySegment s, long off, long floats) {
        long i = 0;
        FloatVector z = FloatVector.zero(Gemm.S);
        for (; i + L <= floats; i += L) {
            z.intoMemorySegment(s, off + i * 4, LE);
        }
        for (; i < floats; i++) {
            s.set(F32, off + i * 4, 0f);
        }
    }

    static int ceilDiv(int a, int b) {
        return -Math.floorDiv(-a, b);
    }
}
