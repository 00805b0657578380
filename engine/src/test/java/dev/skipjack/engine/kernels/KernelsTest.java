package dev.skipjack.engine.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.skipjack.engine.runtime.Parallel;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class KernelsTest {
    @Test
    void warmUpRunsEveryPathAndLeavesThePoolUsable() {
        try (Parallel par = new Parallel(2)) {
            Kernels.warmUp(par, 3, 200);
            assertPoolUsable(par);
        }
    }

    @ParameterizedTest
    @EnumSource(Kernels.Family.class)
    void warmUpOfOneFamilyRunsAndLeavesThePoolUsable(Kernels.Family family) {
        try (Parallel par = new Parallel(2)) {
            Kernels.warmUp(par, EnumSet.of(family), 3, 200);
            assertPoolUsable(par);
        }
    }

    @Test
    void warmUpOfNoFamilyIsRefused() {
        try (Parallel par = new Parallel(1)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Kernels.warmUp(par, EnumSet.noneOf(Kernels.Family.class), 3, 200));
            assertEquals("warmUp needs at least one kernel family", e.getMessage());
        }
    }

    private static void assertPoolUsable(Parallel par) {
        int[] hits = new int[2];
        par.forEach(2, i -> hits[i]++);
        assertEquals(1, hits[0]);
        assertEquals(1, hits[1]);
    }
}
