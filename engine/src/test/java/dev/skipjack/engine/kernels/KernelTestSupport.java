package dev.skipjack.engine.kernels;

import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** Helpers shared by the kernel tests: random segments, guard bands and magnitude-relative comparison. */
final class KernelTestSupport {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Floats of sentinel after every output, to catch writes past the end. */
    static final int GUARD = 67;
    static final float SENTINEL = 1234.5f;

    private KernelTestSupport() {
    }

    static MemorySegment random(Arena arena, long count, Random rnd) {
        MemorySegment s = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) {
            s.set(F32, i * 4, rnd.nextFloat() * 2 - 1);
        }
        return s;
    }

    /** A segment of {@code count + GUARD} floats, all sentinel; the caller uses the first {@code count}. */
    static MemorySegment guarded(Arena arena, long count) {
        MemorySegment s = arena.allocate((count + GUARD) * 4, 64);
        for (long i = 0; i < count + GUARD; i++) {
            s.set(F32, i * 4, SENTINEL);
        }
        return s;
    }

    static void checkGuard(MemorySegment s, long count, String what) {
        for (long i = count; i < count + GUARD; i++) {
            if (s.get(F32, i * 4) != SENTINEL) {
                fail(what + ": wrote past the end of the output at float " + i);
            }
        }
    }

    /**
     * Asserts |got - want| <= rel * magnitude + abs for every element: the kernels only reorder float sums,
     * so their error scales with the sum of the absolute values of the terms, not with the result.
     */
    static void assertClose(MemorySegment want, MemorySegment got, MemorySegment magnitude, long count,
                            double rel, double abs, String what) {
        for (long i = 0; i < count; i++) {
            float e = want.get(F32, i * 4), g = got.get(F32, i * 4);
            double mag = magnitude == null ? Math.abs(e) : magnitude.get(F32, i * 4);
            if (Float.isNaN(e) && Float.isNaN(g)) {
                continue;
            }
            if (!(Math.abs(e - g) <= rel * mag + abs)) {
                fail(what + ": element " + i + " expected " + e + " got " + g + " (magnitude " + mag + ")");
            }
        }
    }
}
