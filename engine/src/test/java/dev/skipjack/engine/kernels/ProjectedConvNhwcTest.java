package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
 * {@link ProjectedConvNhwc} against the scalar reference run as torchvision runs the pair: the downsample (a 1x1
 * of the block's input, with its bias) into a value, then the block's last 1x1 adding it as the residual.
 */
class ProjectedConvNhwcTest {
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
    void matchesTheDownsampleAndTheConvolutionRunApart(int cin, int pairs, int pcin, int s, int n, int xh, int xw,
                                                       boolean relu) {
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
            var conv = new ProjectedConvNhwc(last, w3, b3, ds, wd, bd, arena);
            MemorySegment hLast = ChannelsLastTest.toChannelsLast(arena, h, n, cin, oh * ow, 1, 0f);
            MemorySegment xLast = ChannelsLastTest.toChannelsLast(arena, x, n, pcin, xh * xw, 0, 0f);
            MemorySegment wantLast = ChannelsLastTest.toChannelsLast(arena, want, n, cout, oh * ow, 0, 0f);
            MemorySegment magLast = ChannelsLastTest.toChannelsLast(arena, mag, n, cout, oh * ow, 0, 0f);
            for (Parallel par : new Parallel[] {one, three}) {
                MemorySegment scratch = arena.allocate(conv.scratchBytes(par.threads()), 64);
                scratch.fill((byte) 0x7f);
                MemorySegment out = guarded(arena, outCount + cout);
                for (int run = 0; run < 2; run++) {
                    conv.forward(hLast, xLast, xh, xw, out, relu, n, oh, ow, scratch, par);
                    String what = last + " + " + ds + " n=" + n + " " + xh + "x" + xw + " threads=" + par.threads()
                            + " run " + run;
                    assertClose(wantLast, out, magLast, outCount, 1e-5, 1e-7, what);
                    for (long i = outCount; i < outCount + cout; i++) {
                        assertEquals(0f, out.get(F32, i * 4), what + ": the zero pixel after the output, float " + i);
                    }
                    checkGuard(out, outCount + cout, what);
                }
            }
        }
    }

    @Test
    void refusesWhatItCannotRun() {
        ConvShape last = new ConvShape(64, 256, 1, 1, 0, 1);
        assertFalse(ProjectedConvNhwc.supports(new ConvShape(64, 256, 3, 1, 1, 1), new ConvShape(64, 256, 1, 2, 0, 1)),
                "a 3x3");
        assertFalse(ProjectedConvNhwc.supports(last, new ConvShape(64, 128, 1, 2, 0, 1)), "other output channels");
        assertFalse(ProjectedConvNhwc.supports(last, new ConvShape(64, 256, 3, 2, 1, 1)), "a 3x3 projection");
        Assumptions.assumeTrue(Simd.LANES >= 16, "the 6x4 tile needs 16-lane vectors");
        ConvShape ds = new ConvShape(32, 256, 1, 2, 0, 1);
        try (Arena arena = Arena.ofShared(); Parallel par = new Parallel(1)) {
            var conv = new ProjectedConvNhwc(last, arena.allocate(256 * 64 * 4), arena.allocate(256 * 4), ds,
                    arena.allocate(256 * 32 * 4), arena.allocate(256 * 4), arena);
            MemorySegment big = arena.allocate(1 << 20), scratch = arena.allocate(conv.scratchBytes(1), 64);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> conv.forward(big, big, 9, 9, big, true, 1, 4, 4, scratch, par));
            assertEquals("ProjectedConvNhwc " + last + ": the projection " + ds + " makes 5x5 of its 9x9 input, the "
                    + "convolution's input is 4x4", e.getMessage());
        }
    }
}
