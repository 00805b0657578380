package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.kernels.reference.ReferenceKernels;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The channels-last kernels against the scalar NCHW reference: {@link ConvNhwc} (channels-last in and out),
 * {@link Conv2d} writing channels-last, and the channels-last global average pool. Output channels are given in
 * tile panels ({@link ConvNhwc#NRC} each, which depends on the vector width), pixel counts deliberately not
 * multiples of the tile's MP pixels.
 */
class ChannelsLastTest {
    private static Parallel one, three;

    @BeforeAll
    static void pools() {
        one = new Parallel(1);
        three = new Parallel(3);
    }

    @AfterAll
    static void close() {
        one.close();
        three.close();
    }

    @ParameterizedTest(name = "cin={0} panels={1} k={2} s={3} p={4} n={5} {6}x{7} res={8} relu={9}")
    @CsvSource({
            // bottleneck 1x1s, with and without the residual; a partial last tile; two images sharing tiles
            "17, 2, 1, 1, 0, 1, 7, 9, true, true",
            "40, 1, 1, 1, 0, 2, 5, 5, false, true",
            "64, 3, 1, 1, 0, 1, 7, 7, true, false",
            // 3x3 stride 1 and 2 with padding taps (the zero pixel), odd sizes, a 1x1 image
            "13, 1, 3, 1, 1, 1, 9, 11, true, true",
            "24, 2, 3, 2, 1, 2, 15, 13, false, true",
            "8, 1, 3, 1, 1, 1, 1, 1, false, false",
            "8, 1, 3, 2, 1, 3, 2, 3, true, true",
            // the downsample 1x1/2; a 5x5 kernel with padding 2; a stride larger than the kernel
            "33, 2, 1, 2, 0, 1, 8, 8, false, false",
            "6, 1, 5, 1, 2, 2, 6, 7, true, true",
            "20, 1, 1, 3, 0, 2, 10, 11, false, true",
            // many tiles and tasks: more blocks than panels; at least STATIC_MIN_TILES tiles (a fixed share per
            // thread), for a 3x3 and for a 1x1 (the fixed offset table) with a partial last tile
            "16, 1, 3, 1, 1, 1, 30, 29, true, true",
            "24, 2, 1, 1, 0, 1, 30, 31, true, true",
            // a 3x3/2 over two images, a 1x1/2 with the residual, at channel counts of whole vectors
            "64, 1, 3, 2, 1, 2, 6, 8, false, true",
            "48, 2, 1, 2, 0, 1, 5, 7, true, false",
            // 1x1s over pairs of panels on the 6x4 kernel (16 lanes): a fixed share per thread with a partial last
            // tile, exactly one tile, two images, and 5 pixels (fewer than a tile: its rows copied out)
            "32, 4, 1, 1, 0, 1, 29, 31, true, true",
            "16, 2, 1, 1, 0, 1, 2, 3, true, false",
            "8, 6, 1, 1, 0, 2, 3, 5, false, true",
            "16, 2, 1, 1, 0, 1, 1, 5, true, true",
            // the other shapes on the 6x4 kernel's wide tiles (16 lanes, cout a multiple of 64): a 3x3 in row runs
            // over a fixed share per thread with a partial last tile; cin too large for row runs (one call per
            // tap, the later taps' sums added); a 3x3/2 over two images; a 1x1/2 of 5 pixels (one partial tile)
            "16, 4, 3, 1, 1, 1, 30, 29, true, true",
            "200, 2, 3, 1, 1, 1, 7, 8, true, true",
            "64, 4, 3, 2, 1, 2, 6, 8, false, true",
            "24, 2, 1, 2, 0, 1, 3, 5, true, false",
            // a wide partial last tile of one or two pixels, run a pixel at a time: 1x1s over 49 pixels (an odd
            // depth) and 8, a 3x3 over 49 in row runs, a 3x3/2 down to 7x7 (and 200 channels at 7x8 above: two
            // pixels, the taps' sums added)
            "33, 4, 1, 1, 0, 1, 7, 7, true, true",
            "16, 2, 1, 1, 0, 1, 2, 4, false, true",
            "16, 2, 3, 1, 1, 1, 7, 7, true, true",
            "64, 2, 3, 2, 1, 1, 13, 13, false, true",
            // 2.4 MB of weights at 16 lanes (TOUCH_MIN_BYTES): the wide tiles read the next tap's slice ahead, the
            // last pair's last tap its own; a 3x3 with the taps' sums added, a 3x3/2 down to 7x7
            "256, 8, 3, 1, 1, 1, 7, 8, true, true",
            "256, 8, 3, 2, 1, 1, 13, 13, false, true",
            // 1x1s of 2 MB of weights and a multiple of 512 input channels: the tiles in depth blocks, the next
            // block read ahead, the later blocks' sums added; a last tile of one pixel (49), of four (16), none
            // (two images of 15)
            "1024, 16, 1, 1, 0, 1, 7, 7, true, true",
            "1024, 16, 1, 1, 0, 1, 4, 4, false, true",
            "1024, 16, 1, 1, 0, 2, 3, 5, true, false",
    })
    void convNhwcMatchesReference(int cin, int panels, int k, int s, int p, int n, int h, int w, boolean residual,
                                  boolean relu) {
        ConvShape shape = new ConvShape(cin, panels * ConvNhwc.NRC, k, s, p, 1);
        for (Parallel par : new Parallel[] {one, three}) {
            check(shape, n, h, w, residual, relu, par, 7 + cin * 31L + k, Input.NHWC);
            // single panels on the 7x2 kernel, where the wide tiles would run
            check(shape, n, h, w, residual, relu, par, 7 + cin * 31L + k, Input.NHWC_NARROW);
            // the tiles in the spread order (a tile's rows tiles apart), which large inputs take, on both kernels
            check(shape, n, h, w, residual, relu, par, 7 + cin * 31L + k, Input.NHWC_SPREAD);
            check(shape, n, h, w, residual, relu, par, 7 + cin * 31L + k, Input.NHWC_NARROW_SPREAD);
        }
    }

    @ParameterizedTest(name = "m={0} cin={1} panels={2} n={3} {4}x{5} res={6} relu={7}")
    @CsvSource({
            // whole tiles; partial tiles at the right and bottom edges; a 1x1 and a 2x3 image (one tile, mostly
            // padding); tiles of several images in one register tile; more tiles than a round
            "4, 16, 1, 1, 8, 8, true, true",
            "4, 32, 2, 1, 7, 9, false, true",
            "4, 16, 1, 2, 1, 1, true, false",
            "4, 48, 1, 3, 2, 3, false, false",
            "4, 16, 1, 1, 61, 59, true, true",
            "2, 16, 1, 1, 8, 8, true, true",
            "2, 32, 2, 2, 7, 9, false, true",
            "2, 16, 1, 1, 1, 1, true, false",
            "2, 16, 1, 2, 29, 31, true, true",
            // one chunk, three or four panels: on three threads each transforms it and claims panels
            "2, 16, 3, 1, 8, 8, true, true",
            "4, 32, 4, 1, 9, 7, false, true",
            // 256 channels: one chunk (or no more than the threads) runs the GEMMs position by position
            "2, 256, 2, 1, 6, 5, true, true",
            "4, 256, 3, 1, 9, 7, false, true",
            // 256 channels and more chunks than threads: register tile by register tile again
            "2, 256, 1, 1, 24, 24, true, true",
            // for pairs of panels on the 6x4 kernel (16 lanes; else as above): chunks cut at multiples of 6 tiles
            // with a partial last one, images sharing a register tile, three threads sharing one chunk's three
            // pairs (by tile and by position), more chunks than threads at 256 channels
            "4, 16, 2, 1, 61, 59, true, true",
            "4, 48, 2, 3, 5, 6, false, true",
            "4, 32, 6, 1, 9, 7, true, false",
            "2, 256, 6, 1, 8, 5, true, true",
            "2, 256, 2, 1, 24, 24, false, true",
    })
    void winogradNhwcMatchesReference(int m, int cin, int panels, int n, int h, int w, boolean residual,
                                      boolean relu) {
        ConvShape shape = new ConvShape(cin * Simd.LANES / 16, panels * ConvNhwc.NRC, 3, 1, 1, 1);
        for (Parallel par : new Parallel[] {one, three}) {
            check(shape, n, h, w, residual, relu, par, 5 + cin * 13L + m, m == 2 ? Input.WINOGRAD2 : Input.WINOGRAD4);
            // the GEMMs on pairs of panels (where the vectors and cout allow), whatever the input channels
            check(shape, n, h, w, residual, relu, par, 5 + cin * 13L + m,
                    m == 2 ? Input.WINOGRAD2_PAIRS : Input.WINOGRAD4_PAIRS);
        }
    }

    @ParameterizedTest(name = "cin={0} panels={1} k={2} s={3} p={4} n={5} {6}x{7} relu={8}")
    @CsvSource({
            // the stem's shape on small images (several chunks, a partial last tile); two images; a 1x1 image
            "3, 2, 7, 2, 3, 1, 30, 27, true",
            "3, 1, 7, 2, 3, 2, 9, 11, false",
            "1, 1, 3, 1, 1, 3, 5, 4, true",
            "4, 1, 5, 3, 2, 1, 1, 1, true",
            // 64 and 128 channels: tiles of 6 pixels by 64 channels (16 lanes), a partial tile per row
            "3, 4, 7, 2, 3, 2, 9, 11, true",
            "2, 2, 3, 1, 1, 1, 5, 13, false",
    })
    void stemConvMatchesReference(int cin, int panels, int k, int s, int p, int n, int h, int w, boolean relu) {
        ConvShape shape = new ConvShape(cin, panels * ConvNhwc.NRC, k, s, p, 1);
        for (Parallel par : new Parallel[] {one, three}) {
            check(shape, n, h, w, false, relu, par, 3 + cin * 7L + k, Input.STEM);
        }
    }

    /** Which kernel: ConvNhwc and WinogradNhwc from channels-last, StemConv from NCHW. */
    enum Input { NHWC, NHWC_NARROW, NHWC_SPREAD, NHWC_NARROW_SPREAD, WINOGRAD2, WINOGRAD4, WINOGRAD2_PAIRS, WINOGRAD4_PAIRS, STEM }

    /**
     * Runs the kernel into a channels-last output and compares it, transposed, with the reference; checks the
     * zero pixel after it and the guard band.
     */
    static void check(ConvShape shape, int n, int h, int w, boolean residual, boolean relu, Parallel par, long seed,
                      Input input) {
        boolean nhwcIn = input != Input.STEM;
        Random rnd = new Random(seed);
        try (Arena arena = Arena.ofShared()) {
            int oh = shape.outH(h), ow = shape.outW(w), cout = shape.cout();
            long pixels = (long) n * oh * ow, outCount = pixels * cout;
            MemorySegment in = random(arena, (long) n * shape.cin() * h * w, rnd);
            MemorySegment weight = random(arena, (long) cout * shape.gemmK(), rnd);
            MemorySegment bias = random(arena, cout, rnd);
            MemorySegment res = residual ? random(arena, outCount, rnd) : null;
            MemorySegment want = arena.allocate(outCount * 4, 64);
            MemorySegment mag = arena.allocate(outCount * 4, 64);
            ReferenceKernels.conv2d(shape, in, weight, bias, res, relu, n, h, w, want, mag);

            ConvKernel conv = switch (input) {
                case NHWC -> new ConvNhwc(shape, weight, bias, arena);
                case NHWC_NARROW -> new ConvNhwc(shape, weight, bias, false, arena);
                case NHWC_SPREAD -> new ConvNhwc(shape, weight, bias, true, ConvNhwc.TOUCH_MIN_BYTES, -1, arena);
                case NHWC_NARROW_SPREAD -> new ConvNhwc(shape, weight, bias, false, ConvNhwc.TOUCH_MIN_BYTES, -1,
                        arena);
                case WINOGRAD2 -> new WinogradNhwc(shape, 2, false, weight, bias, arena);
                case WINOGRAD4 -> new WinogradNhwc(shape, 4, false, weight, bias, arena);
                case WINOGRAD2_PAIRS -> new WinogradNhwc(shape, 2, true, weight, bias, arena);
                case WINOGRAD4_PAIRS -> new WinogradNhwc(shape, 4, true, weight, bias, arena);
                case STEM -> new StemConv(shape, weight, bias, arena);
            };
            // channels-last input: the NCHW values transposed, then the pixel of zeros its producer writes
            MemorySegment x = nhwcIn ? toChannelsLast(arena, in, n, shape.cin(), h * w, 1, 0f) : in;
            MemorySegment r = residual ? toChannelsLast(arena, res, n, cout, oh * ow, 0, 0f) : null;
            MemorySegment scratch = arena.allocate(conv.scratchBytes(n, h, w, par.threads()), 64);
            scratch.fill((byte) 0x7f);
            MemorySegment out = guarded(arena, outCount + cout);
            MemorySegment wantLast = toChannelsLast(arena, want, n, cout, oh * ow, 0, 0f);
            MemorySegment magLast = toChannelsLast(arena, mag, n, cout, oh * ow, 0, 0f);
            for (int run = 0; run < 2; run++) {
                conv.forward(x, out, r, relu, n, h, w, scratch, par);
                String what = conv.algorithm() + " " + shape + " n=" + n + " " + h + "x" + w + " threads="
                        + par.threads() + " run " + run;
                checkOutput(wantLast, out, magLast, outCount, cout, what);
            }
        }
    }

    /**
     * A channels-last output of {@code outCount} floats against the reference (transposed): within its error bound,
     * then the zero pixel of {@code cout} floats its producer writes after it, then the guard band.
     */
    static void checkOutput(MemorySegment want, MemorySegment out, MemorySegment magnitude, long outCount, int cout,
                            String what) {
        assertClose(want, out, magnitude, outCount, 1e-5, 1e-7, what);
        for (long i = outCount; i < outCount + cout; i++) {
            assertEquals(0f, out.get(F32, i * 4), what + ": the zero pixel after the output, float " + i);
        }
        checkGuard(out, outCount + cout, what);
    }

    /** [n][c][hw] -> [n][hw][c], followed by {@code extraPixels} pixels of {@code fill}. */
    static MemorySegment toChannelsLast(Arena arena, MemorySegment nchw, int n, int c, int hw, int extraPixels,
                                        float fill) {
        MemorySegment s = arena.allocate(((long) n * hw + extraPixels) * c * 4, 64);
        for (int img = 0; img < n; img++) {
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < hw; p++) {
                    s.set(F32, (((long) img * hw + p) * c + ch) * 4, nchw.get(F32, (((long) img * c + ch) * hw + p) * 4));
                }
            }
        }
        for (long i = (long) n * hw * c; i < ((long) n * hw + extraPixels) * c; i++) {
            s.set(F32, i * 4, fill);
        }
        return s;
    }

    /**
     * One ConvNhwc layer run on a sequence of input shapes, more distinct ones than it keeps offset tables for, and
     * back to earlier ones (batch included): every result matches the reference, with the scratch refilled with
     * garbage before each call (a cached table does not depend on it, an uncached one is written there).
     */
    @Test
    void convNhwcKeepsAnOffsetTablePerInputShape() {
        ConvShape shape = new ConvShape(8, 2 * ConvNhwc.NRC, 3, 2, 1, 1);
        int[][] shapes = {{1, 9, 9}, {2, 9, 9}, {1, 12, 7}, {1, 9, 9}, {1, 5, 13}, {1, 6, 6}, {1, 7, 7}, {2, 9, 9},
                {1, 12, 7}, {1, 7, 7}};
        Random rnd = new Random(11);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment weight = random(arena, (long) shape.cout() * shape.gemmK(), rnd);
            MemorySegment bias = random(arena, shape.cout(), rnd);
            ConvNhwc conv = new ConvNhwc(shape, weight, bias, arena);
            for (Parallel par : new Parallel[] {one, three}) {
                for (int[] nhw : shapes) {
                    int n = nhw[0], h = nhw[1], w = nhw[2], cout = shape.cout();
                    long outCount = (long) n * shape.outH(h) * shape.outW(w) * cout;
                    MemorySegment in = random(arena, (long) n * shape.cin() * h * w, rnd);
                    MemorySegment want = arena.allocate(outCount * 4, 64);
                    MemorySegment mag = arena.allocate(outCount * 4, 64);
                    ReferenceKernels.conv2d(shape, in, weight, bias, null, true, n, h, w, want, mag);
                    MemorySegment scratch = arena.allocate(conv.scratchBytes(n, h, w, par.threads()), 64);
                    scratch.fill((byte) 0x7f);
                    MemorySegment out = guarded(arena, outCount + cout);
                    conv.forward(toChannelsLast(arena, in, n, shape.cin(), h * w, 1, 0f), out, null, true, n, h, w,
                            scratch, par);
                    String what = shape + " n=" + n + " " + h + "x" + w + " threads=" + par.threads();
                    int pixels = shape.outH(h) * shape.outW(w);
                    assertClose(toChannelsLast(arena, want, n, cout, pixels, 0, 0f), out,
                            toChannelsLast(arena, mag, n, cout, pixels, 0, 0f), outCount, 1e-5, 1e-7, what);
                    checkGuard(out, outCount + cout, what);
                }
            }
        }
    }

    /**
     * Where the threads share one chunk (all of a small layer's tiles), they share its V too: another thread adds a
     * slot's M, tables and buffers, not another V. Where they split the tiles into chunks, each has its own V.
     */
    @Test
    void winogradThreadsSharingAChunkShareItsV() {
        try (Arena arena = Arena.ofShared()) {
            // 6 panels (3 pairs where the GEMMs take 64 channels): up to 3 threads share the chunk
            ConvShape shape = new ConvShape(64, 6 * ConvNhwc.NRC, 3, 1, 1, 1);
            MemorySegment weight = arena.allocate((long) shape.cout() * 64 * 9 * 4, 64);
            MemorySegment bias = arena.allocate(shape.cout() * 4L, 64);
            for (boolean pairs : new boolean[] {false, true}) {
                WinogradNhwc conv = new WinogradNhwc(shape, 4, pairs, weight, bias, arena);
                // 12x12: 9 tiles, one chunk shared by the threads; its V (9 tiles up to a whole register tile x 36
                // positions x 64 channels) is at least 9 x 36 x 64 floats
                long v = 9L * 36 * 64 * 4;
                long one = conv.scratchBytes(1, 12, 12, 1), two = conv.scratchBytes(1, 12, 12, 2);
                long three = conv.scratchBytes(1, 12, 12, 3);
                assertEquals(two - one, three - two, "each thread adds the same");
                assertTrue(one - (two - one) >= v, "the first thread's slot holds V (at least " + v + " bytes), the "
                        + "others do not: " + one + ", " + two + ", " + three);
                // 56x56 (196 tiles, V of 1.8 MB): chunks of tiles, a V per thread
                long big1 = conv.scratchBytes(1, 56, 56, 1), big2 = conv.scratchBytes(1, 56, 56, 2);
                assertTrue(big2 - big1 > 49L * 36 * 64 * 4, "a second chunk's V: " + big1 + " -> " + big2);
            }
        }
    }

    /** The padding taps read the pixel after the input, which its producer zeroes: here a NaN would show. */
    @Test
    void paddingTapsReadTheZeroPixel() {
        ConvShape shape = new ConvShape(8, ConvNhwc.NRC, 3, 1, 1, 1);
        Random rnd = new Random(3);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment in = random(arena, (4 * 4 + 1) * 8L, rnd);
            for (int c = 0; c < 8; c++) {
                in.set(F32, (16L * 8 + c) * 4, Float.NaN);
            }
            ConvNhwc conv = new ConvNhwc(shape, random(arena, ConvNhwc.NRC * 72L, rnd), random(arena, ConvNhwc.NRC, rnd),
                    arena);
            MemorySegment out = arena.allocate((16 + 1) * ConvNhwc.NRC * 4L, 64);
            MemorySegment scratch = arena.allocate(conv.scratchBytes(1, 4, 4, 1), 64);
            conv.forward(in, out, null, false, 1, 4, 4, scratch, one);
            assertTrue(Float.isNaN(out.get(F32, 0)), "a padding tap of pixel (0, 0) reads the pixel after the input");
        }
    }

    @Test
    void rejectsWhatItCannotRun() {
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(1);
            ConvShape grouped = new ConvShape(2 * ConvNhwc.NRC, 2 * ConvNhwc.NRC, 3, 1, 1, 2);
            ConvShape odd = new ConvShape(8, ConvNhwc.NRC + 1, 1, 1, 0, 1);
            assertFalse(ConvNhwc.supports(grouped));
            assertFalse(ConvNhwc.supports(odd));
            var e = assertThrows(IllegalArgumentException.class, () -> new ConvNhwc(odd,
                    random(arena, (ConvNhwc.NRC + 1) * 8L, rnd), random(arena, ConvNhwc.NRC + 1, rnd), arena));
            assertTrue(e.getMessage().contains("multiple of " + ConvNhwc.NRC), e.getMessage());
            ConvShape ok = new ConvShape(8, ConvNhwc.NRC, 1, 1, 0, 1);
            ConvNhwc conv = new ConvNhwc(ok, random(arena, ConvNhwc.NRC * 8L, rnd), random(arena, ConvNhwc.NRC, rnd),
                    arena);
            MemorySegment scratch = arena.allocate(conv.scratchBytes(1, 5, 5, 1), 64);
            // the output without room for its zero pixel
            MemorySegment in = random(arena, 26 * 8L, rnd), shortOut = arena.allocate(25L * ConvNhwc.NRC * 4);
            var e2 = assertThrows(IllegalArgumentException.class,
                    () -> conv.forward(in, shortOut, null, false, 1, 5, 5, scratch, one));
            assertTrue(e2.getMessage().contains("the output " + 26 * ConvNhwc.NRC), e2.getMessage());
            // more input floats than the offset table's int indices reach
            var e3 = assertThrows(IllegalArgumentException.class,
                    () -> conv.forward(in, shortOut, null, false, 1 << 16, 64, 64, scratch, one));
            assertTrue(e3.getMessage().endsWith("an input of n=65536 h=64 w=64 has more than 2^31 - 1 floats"),
                    e3.getMessage());
        }
    }

    @Test
    void channelsLastMaxPoolMatchesReference() {
        Random rnd = new Random(12);
        try (Arena arena = Arena.ofShared()) {
            // {n, c, h, w, kernel, stride, pad}: the stem's pool, odd sizes, channels past the last whole vector
            for (int[] d : new int[][] {{1, 64, 112, 112, 3, 2, 1}, {2, 16, 9, 7, 3, 2, 1}, {1, 37, 5, 6, 3, 2, 1},
                    {1, 2 * Simd.LANES + 3, 4, 4, 2, 1, 1}, {3, 8, 1, 1, 3, 2, 1}}) {
                int n = d[0], c = d[1], h = d[2], w = d[3], k = d[4], s = d[5], p = d[6];
                int oh = MaxPool2d.outSize(h, k, s, p), ow = MaxPool2d.outSize(w, k, s, p);
                long outCount = (long) n * c * oh * ow;
                MemorySegment in = random(arena, (long) n * c * h * w, rnd);
                MemorySegment want = arena.allocate(outCount * 4, 64);
                ReferenceKernels.maxPool2d(in, want, n, c, h, w, k, s, p);
                // the pixel after the input is NaN: the pool must not read it
                MemorySegment last = toChannelsLast(arena, in, n, c, h * w, 1, Float.NaN);
                MemorySegment wantLast = toChannelsLast(arena, want, n, c, oh * ow, 0, 0f);
                for (Parallel par : new Parallel[] {one, three}) {
                    MemorySegment out = guarded(arena, outCount + c);
                    MaxPool2d.forwardChannelsLast(last, out, n, c, h, w, k, s, p, par);
                    String what = "channels-last maxpool " + n + "x" + c + "x" + h + "x" + w + " k" + k + " s" + s + " p" + p;
                    for (long i = 0; i < outCount; i++) {
                        assertEquals(wantLast.get(F32, i * 4), out.get(F32, i * 4), what + " at " + i);
                    }
                    for (long i = outCount; i < outCount + c; i++) {
                        assertEquals(0f, out.get(F32, i * 4), what + ": the zero pixel after the output, float " + i);
                    }
                    checkGuard(out, outCount + c, what);
                }
            }
            var e = assertThrows(IllegalArgumentException.class, () -> MaxPool2d.forwardChannelsLast(
                    random(arena, 16L * 8 * 8, rnd), arena.allocate(16L * 4 * 4 * 4), 1, 16, 8, 8, 3, 2, 1, one));
            assertEquals("MaxPool2d (channels-last): for n=1 c=16 8x8 the input needs 1024 floats (has 1024), the output "
                    + "272 (has 256)", e.getMessage());
        }
    }

    @Test
    void channelsLastAveragePoolMatchesReference() {
        Random rnd = new Random(9);
        try (Arena arena = Arena.ofShared()) {
            for (int[] d : new int[][] {{1, 37, 7, 7}, {3, 64, 5, 3}, {2, 2048, 7, 7}}) {
                int n = d[0], c = d[1], h = d[2], w = d[3];
                MemorySegment in = random(arena, (long) n * c * h * w, rnd);
                MemorySegment want = arena.allocate((long) n * c * 4, 64);
                ReferenceKernels.globalAvgPool(in, want, n, c, h, w);
                // the pixel after the input is NaN: the pool must not read it
                MemorySegment last = toChannelsLast(arena, in, n, c, h * w, 1, Float.NaN);
                for (Parallel par : new Parallel[] {one, three}) {
                    MemorySegment out = guarded(arena, (long) n * c);
                    GlobalAvgPool.forwardChannelsLast(last, out, n, c, h, w, par);
                    assertClose(want, out, null, (long) n * c, 1e-6, 1e-6, "avgpool " + n + "x" + c + "x" + h + "x" + w);
                    checkGuard(out, (long) n * c, "avgpool");
                }
            }
        }
    }

    // ProjectedConvNhwc against the scalar reference run as torchvision runs the pair: the downsample (a 1x1 of the
    // block's input, with its bias) into a value, then the block's last 1x1 adding it as the residual.
    @ParameterizedTest(name = "cin={0} pairs={1} pcin={2} s={3} n={4} x {5}x{6} relu={7}")
    @CsvSource({
            // stride 1 (ResNet-50's first stage) with a partial last tile; stride 2 over odd and even sizes, two
            // images sharing tiles; a 1x1 input (one pixel, one partial tile)
            "64, 1, 32, 1, 1, 7, 9, true",
            "16, 2, 24, 2, 2, 13, 11, true",
            "32, 1, 48, 2, 1, 14, 14, false",
            "8, 4, 16, 2, 1, 1, 1, true",
            // 105 tiles: a fixed share of the blocks per thread
            "24, 2, 8, 2, 1, 50, 50, true",
            // 2 MB of projection weights: its calls read the next pair's weights ahead
            "16, 16, 512, 2, 1, 7, 7, true",
    })
    void projectedConvMatchesTheDownsampleAndTheConvolutionRunApart(int cin, int pairs, int pcin, int s, int n,
                                                                    int xh, int xw, boolean relu) {
        Assumptions.assumeTrue(Simd.LANES >= 16, "the 6x4 tile needs 16-lane vectors");
        int cout = pairs * 2 * ConvNhwc.NRC;
        ConvShape last = new ConvShape(cin, cout, 1, 1, 0, 1), ds = new ConvShape(pcin, cout, 1, s, 0, 1);
        assertTrue(ProjectedConvNhwc.supports(last, ds));
        int oh = ds.outH(xh), ow = ds.outW(xw);
        long pixels = (long) n * oh * ow, outCount = pixels * cout;
        Random rnd = new Random(cin * 31L + pcin);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment h = random(arena, pixels * cin, rnd), x = random(arena, (long) n * xh * xw * pcin, rnd);
            MemorySegment w3 = random(arena, (long) cout * cin, rnd), b3 = random(arena, cout, rnd);
            MemorySegment wd = random(arena, (long) cout * pcin, rnd), bd = random(arena, cout, rnd);
            // the reference, NCHW: identity = ds(x), want = relu?(conv(h) + identity)
            MemorySegment identity = arena.allocate(outCount * 4, 64), magD = arena.allocate(outCount * 4, 64);
            ReferenceKernels.conv2d(ds, x, wd, bd, null, false, n, xh, xw, identity, magD);
            MemorySegment want = arena.allocate(outCount * 4, 64), mag = arena.allocate(outCount * 4, 64);
            ReferenceKernels.conv2d(last, h, w3, b3, identity, relu, n, oh, ow, want, mag);
            for (long i = 0; i < outCount; i++) { // the downsample's terms, not only their sum
                mag.set(F32, i * 4, mag.get(F32, i * 4) + magD.get(F32, i * 4));
            }
            ConvKernel conv = new ProjectedConvNhwc(last, w3, b3, ds, wd, bd, arena);
            assertEquals(ds, conv.projection());
            MemorySegment hLast = toChannelsLast(arena, h, n, cin, oh * ow, 1, 0f);
            MemorySegment xLast = toChannelsLast(arena, x, n, pcin, xh * xw, 0, 0f);
            MemorySegment wantLast = toChannelsLast(arena, want, n, cout, oh * ow, 0, 0f);
            MemorySegment magLast = toChannelsLast(arena, mag, n, cout, oh * ow, 0, 0f);
            for (Parallel par : new Parallel[] {one, three}) {
                MemorySegment scratch = arena.allocate(conv.scratchBytes(n, oh, ow, par.threads()), 64);
                scratch.fill((byte) 0x7f);
                MemorySegment out = guarded(arena, outCount + cout);
                // at stride 1 the second run takes the form without the residual's size (it is the output's)
                for (int run = 0; run < 2; run++) {
                    if (run == 1 && s == 1) {
                        conv.forward(hLast, out, xLast, relu, n, oh, ow, scratch, par);
                    } else {
                        conv.forward(hLast, out, xLast, xh, xw, relu, n, oh, ow, scratch, par);
                    }
                    String what = last + " + " + ds + " n=" + n + " " + xh + "x" + xw + " threads=" + par.threads()
                            + " run " + run;
                    checkOutput(wantLast, out, magLast, outCount, cout, what);
                }
            }
        }
    }

    @Test
    void projectedConvRefusesWhatItCannotRun() {
        ConvShape last = new ConvShape(64, 256, 1, 1, 0, 1);
        assertFalse(ProjectedConvNhwc.supports(new ConvShape(64, 256, 3, 1, 1, 1), new ConvShape(64, 256, 1, 2, 0, 1)),
                "a 3x3");
        assertFalse(ProjectedConvNhwc.supports(last, new ConvShape(64, 128, 1, 2, 0, 1)), "other output channels");
        assertFalse(ProjectedConvNhwc.supports(last, new ConvShape(64, 256, 3, 2, 1, 1)), "a 3x3 projection");
        Assumptions.assumeTrue(Simd.LANES >= 16, "the 6x4 tile needs 16-lane vectors");
        ConvShape ds = new ConvShape(32, 256, 1, 2, 0, 1);
        try (Arena arena = Arena.ofShared(); Parallel par = new Parallel(1)) {
            ConvKernel conv = new ProjectedConvNhwc(last, arena.allocate(256 * 64 * 4), arena.allocate(256 * 4), ds,
                    arena.allocate(256 * 32 * 4), arena.allocate(256 * 4), arena);
            MemorySegment big = arena.allocate(1 << 20), scratch = arena.allocate(conv.scratchBytes(1, 4, 4, 1), 64);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> conv.forward(big, big, big, 9, 9, true, 1, 4, 4, scratch, par));
            assertEquals("ProjectedConvNhwc " + last + ": the projection " + ds + " makes 5x5 of its 9x9 input, the "
                    + "convolution's input is 4x4", e.getMessage());
            // at stride 2 the projection's input size cannot be taken from the output's
            e = assertThrows(IllegalArgumentException.class,
                    () -> conv.forward(big, big, big, true, 1, 4, 4, scratch, par));
            assertEquals("ProjectedConvNhwc " + last + ": the projection " + ds + " needs its input's height and width"
                    + " (forward with the residual's)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> conv.forward(big, big, null, 8, 8, true, 1, 4, 4, scratch, par));
            assertEquals("ProjectedConvNhwc " + last + ": needs the projection's input as the residual, got null",
                    e.getMessage());
        }
    }

    // A kernel without a projection adds a residual shaped as its output: the form with the residual's size checks it.
    @Test
    void aResidualOfAnotherSizeIsRefused() {
        ConvShape s = new ConvShape(16, 32, 3, 2, 1, 1);
        try (Arena arena = Arena.ofShared(); Parallel par = new Parallel(1)) {
            ConvKernel conv = new ConvNhwc(s, arena.allocate(32 * 16 * 9 * 4), arena.allocate(32 * 4), arena);
            assertNull(conv.projection());
            MemorySegment big = arena.allocate(1 << 20), scratch = arena.allocate(conv.scratchBytes(1, 9, 9, 1), 64);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> conv.forward(big, big, big, 9, 9, true, 1, 9, 9, scratch, par));
            assertEquals("ConvNhwc " + s + ": a residual of 9x9 for an output of 5x5", e.getMessage());
        }
    }
}
