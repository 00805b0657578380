package dev.skipjack.engine.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-tiled GEMM micro-kernel every convolution runs on:
 * {@code C[MR][NR] (+)= A[MR][kc] * B[kc][NR]}.
 *
 * <p>A is packed {@code [kc][MR]} (MR weights per depth step, broadcast one by one); B is any row-major block
 * with a constant row stride {@code ldb} (packed panels, activation rows of a 1x1 convolution, or shifted
 * rows of a padded input); the vector axis runs along B's and C's rows. The tile is MR rows by two vectors:
 * 4 x 2 on 256-bit AVX2 (8 accumulators + 2 B vectors + 1 broadcast of 16 registers) and 8 x 2 on AVX-512
 * (16 + 3 of 32 registers). The loop body has constant strides and no branches: C2 then hoists the
 * MemorySegment bounds checks out of it.
 */
final class Gemm {
    static final VectorSpecies<Float> S = Simd.FLOAT;
    static final int L = S.length();
    static final long VB = S.vectorByteSize();
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Rows of the register tile (output channels). */
    static final int MR = L >= 16 ? 8 : 4;
    /** Columns of the register tile (output pixels): two vectors. */
    static final int NR = 2 * L;

    private Gemm() {
    }

    /**
     * One full tile. {@code a} at {@code aOff}: [kc][MR]; {@code b} at {@code bOff}: kc rows of NR floats,
     * {@code ldb} bytes apart; {@code c} at {@code cOff}: MR rows of NR floats, {@code ldc} bytes apart,
     * overwritten, or added to when {@code accumulate}, in which case the tile is first computed into
     * {@code tmp} at {@code tmpOff} ([MR][NR] floats of scratch).
     */
    static void tile(MemorySegment a, long aOff, MemorySegment b, long bOff, long ldb, int kc,
                     MemorySegment c, long cOff, long ldc, boolean accumulate, MemorySegment tmp, long tmpOff) {
        if (accumulate) {
            kernel(a, aOff, b, bOff, ldb, kc, tmp, tmpOff, NR * 4L);
            addTile(tmp, tmpOff, c, cOff, ldc, MR);
        } else {
            kernel(a, aOff, b, bOff, ldb, kc, c, cOff, ldc);
        }
    }

    private static void kernel(MemorySegment a, long aOff, MemorySegment b, long bOff, long ldb, int kc,
                               MemorySegment c, long cOff, long ldc) {
        if (MR == 8) {
            kernel8x2(a, aOff, b, bOff, ldb, kc, c, cOff, ldc);
        } else {
            kernel4x2(a, aOff, b, bOff, ldb, kc, c, cOff, ldc);
        }
    }

    /** C[rows][NR] += T[rows][NR], T packed with rows NR floats apart (Gemm's MR rows, ConvNhwc's MP). */
    static void addTile(MemorySegment t, long tOff, MemorySegment c, long cOff, long ldc, int rows) {
        for (int r = 0; r < rows; r++, tOff += NR * 4L, cOff += ldc) {
            FloatVector.fromMemorySegment(S, c, cOff, LE).add(FloatVector.fromMemorySegment(S, t, tOff, LE))
                    .intoMemorySegment(c, cOff, LE);
            FloatVector.fromMemorySegment(S, c, cOff + VB, LE).add(FloatVector.fromMemorySegment(S, t, tOff + VB, LE))
                    .intoMemorySegment(c, cOff + VB, LE);
        }
    }

    // Each kernel is one method that starts from zero and stores its accumulators inline; accumulation into C
    // is a separate pass over an L1-hot tile (addTile), about 2% of a depth block of 256. Why so:
    // - C2 needs the stores inline: with them in helper methods it hit its inlining node cutoff and boxed
    //   the accumulators (20x slower).
    // - C1 (which never intrinsifies the Vector API, so its code is slow anyway) must still compile the
    //   method: a variant that also loaded C first ran C1 out of virtual registers in OSR compiles, and then
    //   sat in tier-2 code, a hundred times slower, for 20 s and more on a busy machine. One with an
    //   epilogue as well failed every time.
    static void kernel4x2(MemorySegment a, long aOff, MemorySegment b, long bOff, long ldb, int kc,
                          MemorySegment c, long cOff, long ldc) {
        long o0 = cOff, o1 = o0 + ldc, o2 = o1 + ldc, o3 = o2 + ldc;
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31;
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = FloatVector.zero(S);
        for (int kk = 0; kk < kc; kk++) {
            long bo = bOff + kk * ldb;
            long ao = aOff + (long) kk * (4 * 4);
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
        c00.intoMemorySegment(c, o0, LE);
        c01.intoMemorySegment(c, o0 + VB, LE);
        c10.intoMemorySegment(c, o1, LE);
        c11.intoMemorySegment(c, o1 + VB, LE);
        c20.intoMemorySegment(c, o2, LE);
        c21.intoMemorySegment(c, o2 + VB, LE);
        c30.intoMemorySegment(c, o3, LE);
        c31.intoMemorySegment(c, o3 + VB, LE);
    }

    // 8 x 2 comes in two copies, starting from C or from zero, rather than one with a flag: with the flag the
    // method grew past what C1 can register-allocate (see above).
    static void kernel8x2(MemorySegment a, long aOff, MemorySegment b, long bOff, long ldb, int kc,
                          MemorySegment c, long cOff, long ldc) {
        long o0 = cOff, o1 = o0 + ldc, o2 = o1 + ldc, o3 = o2 + ldc;
        long o4 = o3 + ldc, o5 = o4 + ldc, o6 = o5 + ldc, o7 = o6 + ldc;
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
        FloatVector c70 = FloatVector.zero(S);
        FloatVector c71 = FloatVector.zero(S);
        for (int kk = 0; kk < kc; kk++) {
            long bo = bOff + kk * ldb;
            long ao = aOff + (long) kk * (8 * 4);
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bo, LE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bo + VB, LE);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, ao));
            c00 = b0.fma(av, c00);
            c01 = b1.fma(av, c01);
            av = FloatVector.broadcast(S, a.get(F32, ao + 4));
            c10 = b0.fma(av, c10);
            c11 = b1.fma(av, c11);
            av = FloatVector.broadcast(S, a.get(F32, ao + 8));
            c20 = b0.fma(av, c20);
            c21 = b1.fma(av, c21);
            av = FloatVector.broadcast(S, a.get(F32, ao + 12));
            c30 = b0.fma(av, c30);
            c31 = b1.fma(av, c31);
            av = FloatVector.broadcast(S, a.get(F32, ao + 16));
            c40 = b0.fma(av, c40);
            c41 = b1.fma(av, c41);
            av = FloatVector.broadcast(S, a.get(F32, ao + 20));
            c50 = b0.fma(av, c50);
            c51 = b1.fma(av, c51);
            av = FloatVector.broadcast(S, a.get(F32, ao + 24));
            c60 = b0.fma(av, c60);
            c61 = b1.fma(av, c61);
            av = FloatVector.broadcast(S, a.get(F32, ao + 28));
            c70 = b0.fma(av, c70);
            c71 = b1.fma(av, c71);
        }
        c00.intoMemorySegment(c, o0, LE);
        c01.intoMemorySegment(c, o0 + VB, LE);
        c10.intoMemorySegment(c, o1, LE);
        c11.intoMemorySegment(c, o1 + VB, LE);
        c20.intoMemorySegment(c, o2, LE);
        c21.intoMemorySegment(c, o2 + VB, LE);
        c30.intoMemorySegment(c, o3, LE);
        c31.intoMemorySegment(c, o3 + VB, LE);
        c40.intoMemorySegment(c, o4, LE);
        c41.intoMemorySegment(c, o4 + VB, LE);
        c50.intoMemorySegment(c, o5, LE);
        c51.intoMemorySegment(c, o5 + VB, LE);
        c60.intoMemorySegment(c, o6, LE);
        c61.intoMemorySegment(c, o6 + VB, LE);
        c70.intoMemorySegment(c, o7, LE);
        c71.intoMemorySegment(c, o7 + VB, LE);
    }
}
