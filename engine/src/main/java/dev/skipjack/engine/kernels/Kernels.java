package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumSet;
import java.util.Set;

/** Things that concern all kernels at once. */
public final class Kernels {
    private static final long TMP = (long) Gemm.MR * Gemm.NR * 4; // byte offset of the tile after C
    private Kernels() {
    }

    /**
     * The kernel families a network runs: {@link #NCHW} (Conv2d, its Winograd and phase passes, the NCHW pooling;
     * networks that cannot run channels-last, such as ResNeXt's grouped convolutions) or {@link #CHANNELS_LAST}
     * (the stem's StemConv, ConvNhwc, WinogradNhwc, the channels-last pooling). The fully connected head is in both.
     */
    public enum Family {
        NCHW, CHANNELS_LAST
    }

    /**
     * Runs every kernel and every code path of them (each convolution path, partial panels, several depth
     * blocks, with and without residual and ReLU) on small inputs until the JIT has compiled them with C2.
     *
     * <p>Why: the Vector API is only intrinsified by C2. Until then a kernel runs in the interpreter or in C1
     * code where every vector operation is a method call that allocates, one to two orders of magnitude
     * slower, and a first inference at full size would spend seconds there. Small problems reach C2's
     * thresholds (thousands of calls and loop iterations) in a fraction of that. Rather than trusting a fixed
     * count, it keeps going until the micro-kernels run at a steady, compiled speed (C1 can fail on
     * them and leave them in slow code until C2 gets to them, which on a busy machine takes a while), for at
     * most {@code maxMillis}. Call it once per process, e.g. when a model is loaded: about a second on an
     * idle 2-core machine, 2 to 6 s on a busy one.
     *
     * @return whether the kernels reached compiled speed within the time limit
     */
    public static boolean warmUp(Parallel par) {
        return warmUp(par, EnumSet.allOf(Family.class), 300, 20_000);
    }

    /**
     * {@link #warmUp(Parallel)} of the kernels of {@code families} only. What it leaves out is not compiled: on a
     * 2-core machine the JIT compiling kernels a network never runs (and the Vector API's own Java code they call
     * while uncompiled) delays the ones it does.
     */
    public static boolean warmUp(Parallel par, Set<Family> families) {
        return warmUp(par, families, 300, 20_000);
    }

    /** {@link #warmUp(Parallel)} with at least {@code minRounds} rounds, for at most about {@code maxMillis}. */
    public static boolean warmUp(Parallel par, int minRounds, long maxMillis) {
        return warmUp(par, EnumSet.allOf(Family.class), minRounds, maxMillis);
    }

    /** {@link #warmUp(Parallel, Set)} with at least {@code minRounds} rounds, for at most about {@code maxMillis}. */
    public static boolean warmUp(Parallel par, Set<Family> families, int minRounds, long maxMillis) {
        if (families.isEmpty()) {
            throw new IllegalArgumentException("warmUp needs at least one kernel family");
        }
        boolean nchw = families.contains(Family.NCHW), last = families.contains(Family.CHANNELS_LAST);
        // (The JDK's array-segment classes are loaded already: see Simd.preloadHeapSegmentClasses.)
        long deadline = System.nanoTime() + maxMillis * 1_000_000L;
        // Small problems: until C2 has compiled them, every vector operation costs on the order of a
        // microsecond, so what counts is the number of calls and loop trips, not their size. But every loop
        // must run whole vectors often (rows and planes of several times 2 x 16 floats): C2 compiles a loop
        // body that the profile says never ran as a trap, and a first full-size inference then falls back
        // to the interpreter kernel by kernel while C2 recompiles (a first ResNet-50 call took 0.6-0.9 s
        // instead of 40 ms, and the next 10 to 20 calls were slow too, with 5x5 warm-up inputs).
        ConvShape[] shapes = {
                new ConvShape(8, 8, 1, 1, 0, 1),     // DIRECT, read in place, partial last panel
                new ConvShape(264, 8, 1, 1, 0, 1),   // DIRECT, packed, two depth blocks (accumulating kernel)
                new ConvShape(8, 8, 3, 1, 1, 1),     // PHASED, stride 1
                new ConvShape(16, 16, 3, 1, 1, 1),   // WINOGRAD
                new ConvShape(8, 8, 3, 2, 1, 1),     // PHASED, four phases
                new ConvShape(8, 8, 1, 2, 0, 1),     // downsample
                new ConvShape(3, 8, 7, 2, 3, 1),     // stem: depth blocks across taps
        };
        int[] heights = {3, 2, 3, 4, 4, 4, 4};
        int[] widths = {41, 20, 40, 40, 72, 72, 72};
        int n = 1;
        long inFloats = 0, outFloats = 0;
        for (int i = 0; i < shapes.length; i++) {
            inFloats = Math.max(inFloats, (long) shapes[i].cin() * heights[i] * widths[i]);
            outFloats = Math.max(outFloats, (long) shapes[i].cout() * heights[i] * widths[i]);
        }
        // Channels-last: ConvNhwc's paths (1x1, 3x3 stride 1 and 2 with zero-pixel taps, a partial last tile) on
        // 8 channels of 5 x 13 (+ the zero pixel).
        int nc = ConvNhwc.NRC * 2, nh = 5, nw = 13;
        ConvShape[] nhwcShapes = {
                new ConvShape(8, nc, 1, 1, 0, 1),
                new ConvShape(8, nc, 3, 1, 1, 1),
                new ConvShape(8, nc, 3, 2, 1, 1),
                new ConvShape(8, nc, 1, 2, 0, 1),
                // too many input channels for row runs: a call per tap, the later taps' sums added to the tile's;
                // reading the next tap's weights ahead, as layers of 2 MB of weights and more do (kernel6x4Ahead:
                // warmed only in those, ResNet-18's first call at full size took 69-82 ms instead of 20-29)
                new ConvShape(ConvNhwc.ROW_RUN_MAX / 3 + Simd.LANES, nc, 3, 1, 1, 1),
                // (last) the 3x3s again on single panels (the 7x2 kernel), as where the wide tiles do not apply, and as
                // WinogradNhwc's GEMMs run it: warmed with the wide tiles alone, the 7x2 kernel compiled later
                // from a thin profile came back with some accumulators boxed in a fresh-clone CI run
                // (AllocationFreeTest, 2 GB per 20 inferences)
                new ConvShape(8, nc, 3, 1, 1, 1),
                new ConvShape(8, nc, 3, 2, 1, 1),
        };
        int narrowFrom = nhwcShapes.length - 2; // the last two run on single panels
        int readingAhead = narrowFrom - 1; // the one without row runs reads ahead
        int maxCin = 0;
        for (ConvShape s : nhwcShapes) {
            maxCin = Math.max(maxCin, s.cin());
        }
        inFloats = Math.max(inFloats, (nh * nw + 1) * (long) Math.max(maxCin, Simd.LANES));
        inFloats = Math.max(inFloats, 3L * (2 * nh) * (2 * nw));
        outFloats = Math.max(outFloats, (nh * nw + 1) * (long) nc);
        // The channels-last Winograd also on 8 x 12: 12 tiles of F(2x2) and 6 of F(4x4), register tiles of 6 (the 6x2
        // kernel where the vectors have 16 lanes) as the batch-8 layers' chunks take them: not warmed, ResNet-50's
        // first call at batch 8 ran that kernel uncompiled and took 2.2 s instead of 0.55
        int wh = 8, ww = 12;
        outFloats = Math.max(outFloats, (wh * ww + 1) * (long) nc);
        inFloats = Math.max(inFloats, (wh * ww + 1) * (long) Simd.LANES);
        int fcIn = 64;
        inFloats = Math.max(inFloats, Math.max(128L * 49, fcIn)); // the global pooling and fc below read it too
        try (Arena arena = Arena.ofShared()) {
            Conv2d[] convs = new Conv2d[shapes.length];
            MemorySegment[] scratch = new MemorySegment[shapes.length];
            MemorySegment in = filled(arena, inFloats, 0.01f);
            MemorySegment out = arena.allocate(outFloats * 4, 64);
            MemorySegment res = filled(arena, outFloats, 0.02f);
            // Each input ends where its segment ends, so that kernels reading it in place reach their masked tails.
            MemorySegment[] inputs = new MemorySegment[shapes.length];
            for (int i = 0; i < shapes.length; i++) {
                ConvShape s = shapes[i];
                inputs[i] = in.asSlice(0, (long) s.cin() * heights[i] * widths[i] * 4);
                MemorySegment weight = filled(arena, (long) s.cout() * s.gemmK(), 0.001f);
                MemorySegment bias = filled(arena, s.cout(), 0.1f);
                convs[i] = new Conv2d(s, weight, bias, arena);
                scratch[i] = arena.allocate(convs[i].scratchBytes(n, heights[i], widths[i], par.threads()), 64);
            }
            // the channels-last Winograd (both tiles, GEMMs by panel and by pairs of panels) and the stem, on L and 3
            // input channels
            ConvShape wShape = new ConvShape(Simd.LANES, nc, 3, 1, 1, 1);
            ConvShape stemShape = new ConvShape(3, nc, 7, 2, 3, 1);
            MemorySegment wWeight = filled(arena, (long) nc * wShape.gemmK(), 0.001f), wBias = filled(arena, nc, 0.1f);
            ConvKernel[] extra = {
                new WinogradNhwc(wShape, 2, false, wWeight, wBias, arena),
                new WinogradNhwc(wShape, 4, false, wWeight, wBias, arena),
                new WinogradNhwc(wShape, 2, true, wWeight, wBias, arena),
                new WinogradNhwc(wShape, 4, true, wWeight, wBias, arena),
                new StemConv(stemShape, filled(arena, (long) nc * stemShape.gemmK(), 0.001f), filled(arena, nc, 0.1f), arena),
            };
            int sh = 2 * nh, sw = 2 * nw; // the stem's input: 3 x 10 x 26 -> 5 x 13
            long extraScratch = 0;
            for (ConvKernel k : extra) {
                extraScratch = Math.max(extraScratch, k instanceof StemConv ? k.scratchBytes(n, sh, sw, par.threads())
                        : Math.max(k.scratchBytes(n, nh, nw, par.threads()), k.scratchBytes(n, wh, ww, par.threads())));
            }
            MemorySegment extraSc = arena.allocate(extraScratch, 64);
            // each shape as ConvNhwc from channels-last
            ConvKernel[] nhwc = new ConvKernel[nhwcShapes.length];
            MemorySegment[] nhwcScratch = new MemorySegment[nhwc.length];
            for (int i = 0; i < nhwc.length; i++) {
                ConvShape s = nhwcShapes[i];
                MemorySegment weight = filled(arena, (long) s.cout() * s.gemmK(), 0.001f);
                MemorySegment bias = filled(arena, s.cout(), 0.1f);
                boolean wide = i < narrowFrom && ConvNhwc.WIDE_TILES;
                nhwc[i] = i == readingAhead ? new ConvNhwc(s, weight, bias, wide, 0, ConvNhwc.SPREAD_MIN_BYTES, arena)
                        : new ConvNhwc(s, weight, bias, wide, arena);
                nhwcScratch[i] = arena.allocate(Math.max(nhwc[i].scratchBytes(n, nh, nw, par.threads()),
                        nhwc[i].scratchBytes(n, 7, 7, par.threads())), 64);
            }
            // Pooling of 8 channels of 4 x 72: 2 x 36 after the max pool.
            int pc = 8, ph = 4, pw = 72;
            MemorySegment pooled = arena.allocate((long) pc * ph * pw * 4, 64);
            // Global pooling of 128 planes of 7x7, ResNet's last: on the 8 small planes of the max pool's output
            // its per-thread loop over planes stayed in the interpreter (a few thousand trips in all), and on
            // ResNet-50's 2048 planes a first call's share took milliseconds, in some runs for seconds of calls.
            int gc = 128;
            MemorySegment avg = arena.allocate(gc * 4L, 64);
            Linear fc = new Linear(fcIn, 10, filled(arena, fcIn * 10L, 0.01f), filled(arena, 10, 0f), arena);
            MemorySegment logits = arena.allocate(40, 64);
            // The micro-kernels directly, both the variant that starts from zero and the one that adds to C:
            // convolutions call the latter only once per depth block past the first, too rarely on small
            // inputs to reach C2 soon.
            int kMax = 64;
            MemorySegment a = filled(arena, (long) kMax * Gemm.MR, 0.01f);
            MemorySegment b = filled(arena, (long) kMax * Gemm.NR, 0.01f);
            MemorySegment c = filled(arena, 2L * Gemm.MR * Gemm.NR, 0f);
            double[][] rates = new double[3][];
            int checks = 0;
            for (int r = 0; ; r++) {
                if (nchw) {
                    for (int i = 0; i < shapes.length; i++) {
                        boolean withRes = (r & 1) == 0 && shapes[i].stride() == 1;
                        convs[i].forward(inputs[i], out, withRes ? res : null, (r & 2) == 0, n, heights[i],
                                widths[i], scratch[i], par);
                    }
                    MaxPool2d.forward(out, pooled, n, pc, ph, pw, 3, 2, 1, par);
                    GlobalAvgPool.forward(in, avg, n, gc, 7, 7, par);
                    for (int j = 0; j < 8; j++) {
                        int kc = 1 + (r * 8 + j) % 16;
                        Gemm.tile(a, 0, b, 0, Gemm.NR * 4L, kc, c, 0, Gemm.NR * 4L, false, c, TMP);
                        Gemm.tile(a, 0, b, 0, Gemm.NR * 4L, kc, c, 0, Gemm.NR * 4L, true, c, TMP);
                    }
                }
                if (last) {
                    for (int i = 0; i < nhwc.length; i++) {
                        boolean withRes = (r & 1) == 0 && nhwc[i].shape().stride() == 1;
                        nhwc[i].forward(in, out, withRes ? res : null, (r & 2) == 0, n, nh, nw, nhwcScratch[i], par);
                        if (nhwc[i].shape().stride() == 1) { // 7x7: 49 pixels, a last wide tile of one (kernel1x4)
                            nhwc[i].forward(in, out, withRes ? res : null, (r & 2) == 0, n, 7, 7, nhwcScratch[i],
                                    par);
                        }
                    }
                    for (ConvKernel k : extra) {
                        boolean stem = k instanceof StemConv;
                        k.forward(in, out, !stem && (r & 1) == 0 ? res : null, (r & 2) == 0, n, stem ? sh : nh,
                                stem ? sw : nw, extraSc, par);
                        if (!stem) {
                            k.forward(in, out, (r & 1) == 0 ? res : null, (r & 2) == 0, n, wh, ww, extraSc, par);
                        }
                    }
                    MaxPool2d.forwardChannelsLast(out, pooled, n, nc, nh, nw, 3, 2, 1, par);
                    GlobalAvgPool.forwardChannelsLast(in, avg, n, gc, 7, 7, par);
                }
                fc.forward(in, logits, n, par);
                if (r + 1 >= minRounds && (r + 1) % 50 == 0) {
                    // a rate per family: the GEMM's tile (both variants); a 3x3 on ConvNhwc (8 channels, 5 x 13 pixels)
                    boolean steady = true;
                    for (int v = 0; v < 3; v++) {
                        if (v < 2 ? !nchw : !last) {
                            continue;
                        }
                        double rate = v < 2 ? kernelRate(a, b, c, kMax, v == 1)
                                : convRate(nhwc[1], in, out, n, nh, nw, nhwcScratch[1], par);
                        rates[v] = push(rates[v], rate);
                        steady &= isSteady(rates[v]);
                    }
                    checks++;
                    if (steady && checks >= 3) {
                        return true;
                    }
                    if (System.nanoTime() > deadline) {
                        return false;
                    }
                }
            }
        }
    }

    /** GFLOP/s of a convolution on {@code [n][h][w]} pixels (its weights and scratch L1- or L2-resident). */
    private static double convRate(ConvKernel conv, MemorySegment in, MemorySegment out, int n, int h, int w,
                                   MemorySegment scratch, Parallel par) {
        int calls = 16;
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            conv.forward(in, out, null, true, n, h, w, scratch, par);
        }
        long t = Math.max(1, System.nanoTime() - t0);
        ConvShape s = conv.shape();
        return 2.0 * calls * n * s.outH(h) * s.outW(w) * s.cout() * s.gemmK() / t;
    }

    /** GFLOP/s of the micro-kernel on an L1-resident problem. */
    private static double kernelRate(MemorySegment a, MemorySegment b, MemorySegment c, int kc, boolean acc) {
        int calls = 64;
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            Gemm.tile(a, 0, b, 0, Gemm.NR * 4L, kc, c, 0, Gemm.NR * 4L, acc, c, TMP);
        }
        long t = Math.max(1, System.nanoTime() - t0);
        return 2.0 * calls * kc * Gemm.MR * Gemm.NR / t;
    }

    private static double[] push(double[] last3, double v) {
        if (last3 == null) {
            return new double[] {v};
        }
        double[] r = new double[Math.min(3, last3.length + 1)];
        r[0] = v;
        System.arraycopy(last3, 0, r, 1, r.length - 1);
        return r;
    }

    /**
     * Compiled by C2 and staying so: the last three rates within a factor 1.5 of each other (one noisy sample
     * from a busy machine spoils only one check) and above 5 GFLOP/s, which no uncompiled Vector API code
     * reaches and any C2-compiled kernel on an x86 core with at least SSE exceeds.
     */
    private static boolean isSteady(double[] last3) {
        if (last3.length < 3) {
            return false;
        }
        double lo = Math.min(last3[0], Math.min(last3[1], last3[2]));
        double hi = Math.max(last3[0], Math.max(last3[1], last3[2]));
        return lo > 5 && hi < 1.5 * lo;
    }

    private static MemorySegment filled(Arena arena, long count, float value) {
        MemorySegment s = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) {
            s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4, value * (1 + (i % 7)));
        }
        return s;
    }
}
