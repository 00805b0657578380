package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PeakFlopsTest {
    @Test
    void loopComputesTheRecurrenceItClaims() {
        int lanes = PeakFlops.SPECIES.length();
        // No iterations: the sum of the twelve starting values 0.01..0.12 in every lane.
        assertEquals(0.78 * lanes, PeakFlops.fmaChains(0), 1e-4 * lanes);
        // One step of c = 0.999c + 0.001 on each chain: 0.999 * 0.78 + 12 * 0.001.
        assertEquals((0.999 * 0.78 + 0.012) * lanes, PeakFlops.fmaChains(1), 1e-4 * lanes);
        // Long runs converge to the fixed point 0.001 / (1 - 0.999) = 1 per chain, and stay finite.
        assertEquals(12.0 * lanes, PeakFlops.fmaChains(200_000), 0.01 * lanes);
    }

    @Test
    void measureReportsAPositiveRateForItsShape() throws Exception {
        PeakFlops.Result r = PeakFlops.measure(1);
        assertEquals(1, r.threads());
        assertEquals(PeakFlops.SPECIES.length(), r.lanes());
        assertTrue(r.gflops() > 0 && Double.isFinite(r.gflops()), "gflops " + r.gflops());
    }

    @Test
    void needsAThread() {
        assertThrows(IllegalArgumentException.class, () -> PeakFlops.measure(0));
    }
}
