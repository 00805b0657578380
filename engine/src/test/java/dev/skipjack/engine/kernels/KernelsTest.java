package dev.skipjack.engine.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.runtime.Parallel;
import org.junit.jupiter.api.Test;

class KernelsTest {
    @Test
    void warmUpRunsEveryPathAndLeavesThePoolUsable() {
        try (Parallel par = new Parallel(2)) {
            Kernels.warmUp(par, 3, 200);
            int[] hits = new int[1];
            par.forEach(1, i -> hits[0]++);
            assertTrue(hits[0] == 1);
        }
    }
}
