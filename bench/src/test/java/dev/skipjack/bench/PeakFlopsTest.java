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
        // One step of c = 0.5 * 2^-20 + c on each chain.
        double step = Math.scalb(1.0, -21);
        assertEquals((0.78 + 12 * step) * lanes, PeakFlops.fmaChains(1), 1e-6 * lanes);
        // n steps add n increments to each chain.
        assertEquals((0.78 + 12 * 200_000 * step) * lanes, PeakFlops.fmaChains(200_000), 1e-4 * lanes);
        // Past 8 - c0 over 2^-21 steps each chain stops at 8 (the increment half an ulp, rounded to even): finite.
        assertEquals(12 * 8.0 * lanes, PeakFlops.fmaChains(20_000_000), 0.0);
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
