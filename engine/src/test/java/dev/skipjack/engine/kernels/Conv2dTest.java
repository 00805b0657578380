package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.kernels.reference.ReferenceKernels;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Conv2d against the scalar direct convolution, on shapes that are deliberately not multiples of the lanes. */
class Conv2dTest {
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

    @ParameterizedTest(name = "cin={0} cout={1} k={2} s={3} p={4} g={5} n={6} {7}x{8} res={9} relu={10}")
    @CsvSource({
            // 3x3 stride 1 with enough channels for Winograd, odd sizes, many tiles, several depth blocks
            "17, 19, 3, 1, 1, 1, 1, 13, 11, true, true",
            "32, 40, 3, 1, 1, 1, 2, 23, 30, false, true",
            "300, 24, 3, 1, 1, 1, 1, 7, 9, true, false",
            "16, 16, 3, 1, 1, 1, 1, 1, 2, true, true",
            // stem: 7x7 stride 2 pad 3 on 3 channels
            "3, 5, 7, 2, 3, 1, 2, 23, 19, false, true",
            "3, 64, 7, 2, 3, 1, 1, 32, 32, false, true",
            // 3x3 stride 1, odd channels and sizes
            "13, 7, 3, 1, 1, 1, 1, 9, 11, false, true",
            "13, 7, 3, 1, 1, 1, 2, 9, 11, true, true",
            // stride 2 with groups
            "12, 10, 3, 2, 1, 2, 1, 15, 13, false, false",
            // rows wide enough for whole-vector stride-2 copies into phase planes at every width
            "24, 16, 3, 2, 1, 1, 1, 20, 70, true, true",
            "16, 16, 3, 1, 1, 1, 1, 9, 70, true, true",
            // bottleneck 1x1 with residual + relu, and the 1x1 stride-2 downsample
            "17, 37, 1, 1, 0, 1, 2, 7, 9, true, true",
            "16, 24, 1, 2, 0, 1, 1, 13, 11, false, false",
            "33, 9, 1, 2, 0, 1, 1, 8, 8, true, false",
            // depthwise and ResNeXt-like grouping
            "8, 8, 3, 1, 1, 8, 1, 10, 7, false, true",
            "64, 64, 3, 1, 1, 32, 1, 9, 9, false, true",
            // depth beyond one packed block (K = 2700 and 600), few pixels
            "300, 9, 3, 1, 1, 1, 1, 6, 5, true, true",
            "600, 5, 1, 1, 0, 1, 1, 1, 37, true, true",
            // many pixel blocks, more than one depth block per kernel tap
            "4, 9, 3, 1, 1, 1, 1, 40, 37, false, true",
            "260, 11, 3, 1, 1, 1, 1, 11, 10, true, true",
            "40, 24, 5, 1, 2, 2, 2, 9, 14, false, true",
            // strided on phase planes; stride larger than the kernel
            "40, 24, 3, 2, 1, 1, 1, 15, 17, true, true",
            "20, 7, 1, 3, 0, 1, 2, 10, 11, false, false",
            "48, 40, 7, 2, 3, 2, 1, 13, 12, false, true",
            "70, 130, 1, 1, 0, 1, 1, 31, 29, true, true",
            // 1x1 tasks of few channels on planes of 100+ pixels read B in place: two depth blocks, a partial
            // last panel, two images; whole panels only (128 pixels); exactly the smallest such plane
            "300, 40, 1, 1, 0, 1, 2, 12, 11, true, true",
            "24, 16, 1, 1, 0, 1, 1, 16, 8, false, true",
            "64, 128, 1, 1, 0, 1, 1, 10, 10, true, false",
            // column blocks spanning images: several small images per block, segments starting mid-panel
            "24, 16, 1, 1, 0, 1, 3, 10, 10, true, true",
            "40, 24, 1, 1, 0, 1, 5, 7, 7, true, false",
            "16, 24, 3, 2, 1, 1, 3, 7, 7, true, true",
            "24, 20, 3, 1, 1, 2, 4, 5, 6, false, true",
            // tiny: 1x1 image, kernel larger than the input thanks to padding
            "5, 3, 3, 1, 1, 1, 1, 1, 1, false, false",
            "6, 6, 5, 3, 2, 3, 3, 8, 6, true, false",
    })
    void matchesReference(int cin, int cout, int k, int s, int p, int g, int n, int h, int w,
                          boolean residual, boolean relu) {
        ConvShape shape = new ConvShape(cin, cout, k, s, p, g);
        for (Conv2d.Path path : Conv2d.Path.values()) {
            boolean possible = switch (path) {
                case PHASED -> true;
                case DIRECT -> k == 1 && s == 1 && p == 0;
                case WINOGRAD -> k == 3 && s == 1 && p == 1 && g == 1;
            };
            if (possible) {
                for (Parallel par : new Parallel[] {one, three}) {
                    check(shape, path, n, h, w, residual, relu, par, 42 + cin * 31L + cout);
                }
            }
        }
    }

    static void check(ConvShape shape, Conv2d.Path path, int n, int h, int w, boolean residual, boolean relu,
                      Parallel par, long seed) {
        Random rnd = new Random(seed);
        try (Arena arena = Arena.ofShared()) {
            int oh = shape.outH(h), ow = shape.outW(w);
            long outCount = (long) n * shape.cout() * oh * ow;
            MemorySegment in = random(arena, (long) n * shape.cin() * h * w, rnd);
            MemorySegment weight = random(arena, (long) shape.cout() * shape.gemmK(), rnd);
            MemorySegment bias = random(arena, shape.cout(), rnd);
            MemorySegment res = residual ? random(arena, outCount, rnd) : null;
            MemorySegment want = arena.allocate(outCount * 4, 64);
            MemorySegment mag = arena.allocate(outCount * 4, 64);
            ReferenceKernels.conv2d(shape, in, weight, bias, res, relu, n, h, w, want, mag);

            Conv2d conv = new Conv2d(shape, weight, bias, arena, path);
            MemorySegment scratch = arena.allocate(conv.scratchBytes(n, h, w, par.threads()), 64);
            // Scratch contents are undefined on entry: make any read of an unwritten float visible.
            scratch.fill((byte) 0x7f);
            MemorySegment out = guarded(arena, outCount);
            // Twice: the second run must not depend on what the first left in the output or the scratch.
            for (int run = 0; run < 2; run++) {
                conv.forward(in, out, res, relu, n, h, w, scratch, par);
                String what = shape + " " + path + " n=" + n + " " + h + "x" + w + " threads=" + par.threads() + " run " + run;
                assertClose(want, out, mag, outCount, 1e-5, 1e-7, what);
                checkGuard(out, outCount, what);
            }
        }
    }

    /**
     * Winograd's transforms add a few roundings per output; on a ResNet-like layer its error against the
     * exact (double) result must stay of the order of the direct GEMM's, so a deep network does not drift.
     */
    @Test
    void winogradErrorStaysCloseToTheDirectSum() {
        ConvShape shape = new ConvShape(256, 64, 3, 1, 1, 1);
        int h = 14, w = 14;
        double[] rms = new double[2];
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(5);
            long outCount = 64L * h * w;
            MemorySegment in = random(arena, 256L * h * w, rnd);
            MemorySegment weight = random(arena, 64L * shape.gemmK(), rnd);
            MemorySegment bias = random(arena, 64, rnd);
            MemorySegment want = arena.allocate(outCount * 4), mag = arena.allocate(outCount * 4);
            ReferenceKernels.conv2d(shape, in, weight, bias, null, false, 1, h, w, want, mag);
            Conv2d.Path[] paths = {Conv2d.Path.PHASED, Conv2d.Path.WINOGRAD};
            for (int i = 0; i < 2; i++) {
                Conv2d conv = new Conv2d(shape, weight, bias, arena, paths[i]);
                MemorySegment scratch = arena.allocate(conv.scratchBytes(1, h, w, 3), 64);
                MemorySegment out = arena.allocate(outCount * 4);
                conv.forward(in, out, null, false, 1, h, w, scratch, three);
                double sum = 0;
                for (long e = 0; e < outCount; e++) {
                    double d = (out.get(F32, e * 4) - want.get(F32, e * 4)) / mag.get(F32, e * 4);
                    sum += d * d;
                }
                rms[i] = Math.sqrt(sum / outCount);
            }
        }
        System.out.printf("relative RMS error vs double: direct GEMM %.3g, Winograd F(2x2,3x3) %.3g%n", rms[0], rms[1]);
        assertTrue(rms[1] <= 4 * rms[0], "Winograd error " + rms[1] + " vs direct " + rms[0]);
    }

    @Test
    void choosesThePathByGeometry() {
        assertEquals(Conv2d.Path.DIRECT, Conv2d.choosePath(new ConvShape(64, 256, 1, 1, 0, 1)));
        assertEquals(Conv2d.Path.WINOGRAD, Conv2d.choosePath(new ConvShape(64, 64, 3, 1, 1, 1)));
        assertEquals(Conv2d.Path.PHASED, Conv2d.choosePath(new ConvShape(8, 8, 3, 1, 1, 1)));
        assertEquals(Gemm.L >= 16 ? Conv2d.Path.PHASED : Conv2d.Path.WINOGRAD,
                Conv2d.choosePath(new ConvShape(512, 512, 3, 1, 1, 1)));
        assertEquals(Conv2d.Path.PHASED, Conv2d.choosePath(new ConvShape(128, 128, 3, 2, 1, 1)));
        assertEquals(Conv2d.Path.PHASED, Conv2d.choosePath(new ConvShape(256, 512, 1, 2, 0, 1)));
        assertEquals(Conv2d.Path.PHASED, Conv2d.choosePath(new ConvShape(3, 64, 7, 2, 3, 1)));
        assertEquals(Conv2d.Path.PHASED, Conv2d.choosePath(new ConvShape(128, 128, 3, 1, 1, 32)));
    }

    @Test
    void rejectsTooSmallScratch() {
        ConvShape shape = new ConvShape(4, 4, 3, 1, 1, 1);
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(1);
            Conv2d conv = new Conv2d(shape, random(arena, 4 * 36, rnd), random(arena, 4, rnd), arena);
            MemorySegment in = random(arena, 4 * 25, rnd), out = arena.allocate(4 * 25 * 4);
            MemorySegment scratch = arena.allocate(conv.scratchBytes(1, 5, 5, 3) - 4);
            assertThrows(IllegalArgumentException.class,
                    () -> conv.forward(in, out, null, false, 1, 5, 5, scratch, three));
        }
    }

    @Test
    void rejectsShortWeights() {
        ConvShape shape = new ConvShape(4, 4, 3, 1, 1, 2);
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(1);
            assertThrows(IllegalArgumentException.class,
                    () -> new Conv2d(shape, random(arena, 4 * 18 - 1, rnd), random(arena, 4, rnd), arena));
        }
    }

    @Test
    void shapeArithmetic() {
        ConvShape stem = new ConvShape(3, 64, 7, 2, 3, 1);
        assertEquals(112, stem.outH(224));
        assertEquals(99, stem.outH(197));
        assertEquals(132, stem.outW(263));
        assertEquals(2L * 64 * 112 * 112 * 147, stem.flops(1, 224, 224));
        assertThrows(IllegalArgumentException.class, () -> new ConvShape(6, 4, 3, 1, 1, 4));
    }
}
