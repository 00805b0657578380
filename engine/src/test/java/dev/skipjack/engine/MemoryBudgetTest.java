package dev.skipjack.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.runtime.CountingArena;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/**
 * Issue 4's memory bar, "peak memory for ResNet-50 batch 1 stays within the weights plus 64 MB", on the
 * engine's own accounting ({@link ResNet#memoryUse}): the packed weights the model keeps plus one inference's
 * activation buffers and scratch. Byte counts, not timings: what the process adds around them (the JVM, its
 * heap, the model file's mapping while loading) is measured in bench/README.md.
 */
class MemoryBudgetTest {
    private static final long BUDGET_OVER_WEIGHTS = 64L << 20;

    /** torchvision's ResNet-50: 25,557,032 parameters plus 2 x 26,560 batch-norm running statistics. */
    private static final long RESNET50_FLOATS = 25_557_032L + 2 * 26_560L;

    @Test
    void resnet50Batch1FitsInWeightsPlus64MB() {
        // Two threads: the machine of issue 4 (the kernels' scratch grows with the threads).
        try (ResNet model = ResNet.seeded("resnet50", 1, new ResNet.Options(2))) {
            ResNet.MemoryUse m = model.memoryUse(1, 224, 224);
            System.out.printf("resnet50 [1][3][224][224], 2 threads: weights %d, packed %d, plan %d, total %d bytes "
                    + "(weights + %.1f MB)%n", m.weightBytes(), m.packedBytes(), m.planBytes(), m.totalBytes(),
                    (m.totalBytes() - m.weightBytes()) / 1e6);
            assertEquals(RESNET50_FLOATS * Float.BYTES, m.weightBytes(), "the yardstick: ResNet-50's float32 tensors");
            // Packing never drops a weight: the count covers at least every parameter (running stats fold away).
            assertTrue(m.packedBytes() >= 25_557_032L * Float.BYTES, "packed " + m.packedBytes());
            // The largest activation alone, [1][256][56][56] or [1][64][112][112] float32, is 3.2 MB.
            assertTrue(m.planBytes() >= 2 * 3_211_264L, "plan " + m.planBytes());
            assertTrue(m.totalBytes() <= m.weightBytes() + BUDGET_OVER_WEIGHTS,
                    "packed weights " + m.packedBytes() + " + plan " + m.planBytes() + " = " + m.totalBytes()
                            + " bytes exceed the weights (" + m.weightBytes() + ") + 64 MiB");
        }
    }

    @Test
    void countingArenaCountsWhatIsAllocatedThroughIt() {
        try (var arena = new CountingArena(Arena.ofConfined())) {
            arena.allocate(100, 64);
            arena.allocate(28);
            assertEquals(128, arena.allocatedBytes());
        }
    }
}
