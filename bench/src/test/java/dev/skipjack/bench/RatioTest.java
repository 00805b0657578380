package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RatioTest {
    /**
     * Rounds as the harness measures them on a noisy machine: each round's two calls share a slow-down of the
     * machine (log-normal, sd 0.2) and each has noise of its own (sd 0.15); a's calls take {@code trueRatio} times
     * b's in the median.
     */
    private static double[][] rounds(int n, double trueRatio, SplittableRandom rnd) {
        double[] a = new double[n], b = new double[n];
        for (int i = 0; i < n; i++) {
            double machine = Math.exp(0.2 * rnd.nextGaussian());
            a[i] = 60 * trueRatio * machine * Math.exp(0.15 * rnd.nextGaussian());
            b[i] = 60 * machine * Math.exp(0.15 * rnd.nextGaussian());
        }
        return new double[][] {a, b};
    }

    @Test
    void aConstantRatioHasNoSpread() {
        double[] b = {50, 61, 58, 90, 52};
        double[] a = new double[b.length];
        for (int i = 0; i < b.length; i++) {
            a[i] = 0.75 * b[i];
        }
        Ratio r = Ratio.of(a, b);
        assertEquals(0.75, r.value(), 1e-12);
        assertEquals(0.75, r.lo(), 1e-12);
        assertEquals(0.75, r.hi(), 1e-12);
    }

    @Test
    void theIntervalHoldsTheRatioAndIsTheSameForTheSameSamples() {
        double[][] s = rounds(30, 0.9, new SplittableRandom(7));
        Ratio r = Ratio.of(s[0], s[1]);
        assertEquals(Stats.of(s[0]).median() / Stats.of(s[1]).median(), r.value(), 1e-12);
        assertTrue(r.lo() < r.value() && r.value() < r.hi(), r.toString());
        assertEquals(r, Ratio.of(s[0].clone(), s[1].clone()));
    }

    @Test
    void itCoversTheTrueRatioAboutAsOftenAsItSays() {
        // 400 simulated runs of 30 rounds: a 95% interval should miss the true ratio in about 20 of them (here 9:
        // the bootstrap of a median over 30 rounds is coarse, a resample's median being one of a few order
        // statistics). Outside this range the interval is wrong: resampling a's and b's calls apart, though their
        // rounds share the machine's slow-downs, covered in all 400 (and the interval was 30% wider); one
        // resample would give lo = hi and miss almost always.
        var rnd = new SplittableRandom(42);
        int covered = 0;
        for (int run = 0; run < 400; run++) {
            double[][] s = rounds(30, 1.1, rnd);
            Ratio r = Ratio.of(s[0], s[1]);
            if (r.lo() <= 1.1 && 1.1 <= r.hi()) {
                covered++;
            }
        }
        assertTrue(covered >= 340 && covered <= 396, "covered in " + covered + " of 400 runs");
    }

    @Test
    void moreRoundsNarrowTheInterval() {
        double[][] few = rounds(20, 1.0, new SplittableRandom(3));
        double[][] many = rounds(320, 1.0, new SplittableRandom(3));
        Ratio f = Ratio.of(few[0], few[1]), m = Ratio.of(many[0], many[1]);
        // the width falls as one over the square root of the rounds: 16 times the rounds, about a quarter
        assertTrue(m.hi() - m.lo() < 0.5 * (f.hi() - f.lo()), f + " against " + m);
    }

    @Test
    void unpairedSamplesAreRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> Ratio.of(new double[3], new double[2]));
        assertEquals("a ratio needs the same number of rounds on both sides, at least one: got 3 and 2",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Ratio.of(new double[0], new double[0]));
    }
}
