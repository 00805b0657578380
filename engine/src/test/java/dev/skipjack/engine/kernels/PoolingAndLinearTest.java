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

class PoolingAndLinearTest {
    private static Parallel par;

    @BeforeAll
    static void pool() {
        par = new Parallel(2);
    }

    @AfterAll
    static void close() {
        par.close();
    }

    @ParameterizedTest(name = "n={0} c={1} {2}x{3} k={4} s={5} p={6}")
    @CsvSource({
            "1, 3, 112, 112, 3, 2, 1",
            "2, 5, 99, 132, 3, 2, 1",
            "1, 7, 13, 9, 3, 2, 1",
            "1, 4, 40, 40, 3, 2, 1",
            "1, 2, 35, 34, 3, 2, 1",
            "1, 2, 64, 66, 3, 2, 1",
            "1, 2, 8, 33, 3, 2, 1",
            "1, 2, 1, 1, 3, 2, 1",
            "1, 3, 10, 11, 2, 2, 0",
            "2, 3, 9, 7, 3, 1, 1",
    })
    void maxPoolMatchesReference(int n, int c, int h, int w, int k, int s, int p) {
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(7 + h * 31L + w);
            long inCount = (long) n * c * h * w;
            MemorySegment in = random(arena, inCount, rnd);
            in.set(F32, (inCount / 2) * 4, Float.NaN);
            int oh = MaxPool2d.outSize(h, k, s, p), ow = MaxPool2d.outSize(w, k, s, p);
            long outCount = (long) n * c * oh * ow;
            MemorySegment want = arena.allocate(outCount * 4);
            ReferenceKernels.maxPool2d(in, want, n, c, h, w, k, s, p);
            MemorySegment out = guarded(arena, outCount);
            MaxPool2d.forward(in, out, n, c, h, w, k, s, p, par);
            assertClose(want, out, null, outCount, 0, 0, "maxpool");
            checkGuard(out, outCount, "maxpool");
        }
    }

    @Test
    void maxPoolOutSize() {
        assertEquals(56, MaxPool2d.outSize(112, 3, 2, 1));
        assertEquals(50, MaxPool2d.outSize(99, 3, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> MaxPool2d.outSize(1, 5, 1, 1));
    }

    @ParameterizedTest(name = "n={0} c={1} {2}x{3}")
    // The last two are above GlobalAvgPool.PARALLEL_FLOATS: split over the pool's threads.
    @CsvSource({"1, 2048, 7, 7", "2, 13, 7, 9", "3, 5, 1, 1", "1, 70, 13, 17", "1, 3, 4, 4", "3, 2048, 13, 14",
            "1, 129, 91, 90"})
    void globalAvgPoolMatchesReference(int n, int c, int h, int w) {
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(11 + c);
            MemorySegment in = random(arena, (long) n * c * h * w, rnd);
            MemorySegment want = arena.allocate((long) n * c * 4);
            ReferenceKernels.globalAvgPool(in, want, n, c, h, w);
            MemorySegment out = guarded(arena, (long) n * c);
            GlobalAvgPool.forward(in, out, n, c, h, w, par);
            // Inputs lie in [-1, 1], so each mean's terms have magnitude at most 1 per element.
            assertClose(want, out, null, (long) n * c, 0, 1e-6, "avgpool");
            checkGuard(out, (long) n * c, "avgpool");
        }
    }

    @ParameterizedTest(name = "n={0} {1}->{2}")
    @CsvSource({"1, 2048, 1000", "3, 37, 13", "2, 133, 17", "1, 5, 3", "4, 512, 10"})
    void linearMatchesReference(int n, int in, int out) {
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(13 + in);
            MemorySegment x = random(arena, (long) n * in, rnd);
            MemorySegment w = random(arena, (long) in * out, rnd);
            MemorySegment b = random(arena, out, rnd);
            MemorySegment want = arena.allocate((long) n * out * 4);
            ReferenceKernels.linear(x, w, b, want, n, in, out);
            Linear lin = new Linear(in, out, w, b, arena);
            MemorySegment y = guarded(arena, (long) n * out);
            lin.forward(x, y, n, par);
            // Each sum has in + 1 terms of magnitude <= 1.
            assertClose(want, y, null, (long) n * out, 0, 1e-6 * (in + 1), "linear");
            checkGuard(y, (long) n * out, "linear");
        }
    }

    @Test
    void linearKeepsItsOwnCopyOfTheWeights() {
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(3);
            MemorySegment x = random(arena, 9, rnd), w = random(arena, 9 * 5, rnd), b = random(arena, 5, rnd);
            Linear lin = new Linear(9, 5, w, b, arena);
            MemorySegment y1 = arena.allocate(5 * 4), y2 = arena.allocate(5 * 4);
            lin.forward(x, y1, 1, par);
            w.fill((byte) 0);
            lin.forward(x, y2, 1, par);
            assertTrue(y1.mismatch(y2) < 0, "Linear must not read the caller's weight after construction");
        }
    }
}
