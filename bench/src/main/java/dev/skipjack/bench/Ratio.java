package dev.skipjack.bench;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * One runtime's median time over another's, with a 95% confidence interval: how far the ratio a run reports could
 * be from the one the same build would show on a run of many more rounds.
 *
 * <p>Why: on a shared machine a call's time moves by tens of percent from one round to the next (ResNet-50 at batch
 * 1 on the 2-core Ice Lake Xeon: single calls of 41 to 116 ms, both runtimes), so a ratio of two medians over 20 or 30
 * rounds moves from run to run as well (the same build, eight runs of 20 rounds within 40 minutes: 0.92 to 1.20). The
 * interval says how much of that a single run cannot resolve.
 *
 * <p>How: a percentile bootstrap over the measured rounds. Each resample draws as many rounds as were measured, with
 * replacement, keeping a round's two calls together (the harness interleaves them, so a slow stretch of the machine
 * that spans a round slows both), and takes the ratio of the two medians; the interval is the 2.5th to 97.5th
 * percentile of {@value #RESAMPLES} such ratios. The random draws are seeded, so the same samples always give the
 * same interval.
 *
 * @param value the ratio of the medians of all the rounds
 * @param lo    the interval's lower end
 * @param hi    the interval's upper end
 */
public record Ratio(double value, double lo, double hi) {
    /** Bootstrap resamples per interval. */
    static final int RESAMPLES = 2000;
    private static final long SEED = 0x5EEDL;

    /**
     * The ratio of {@code a}'s median to {@code b}'s and its interval, where {@code a[i]} and {@code b[i]} were
     * measured in the same round.
     *
     * @throws IllegalArgumentException if the two have different lengths or none
     */
    public static Ratio of(double[] a, double[] b) {
        if (a.length != b.length || a.length == 0) {
            throw new IllegalArgumentException("a ratio needs the same number of rounds on both sides, at least one: "
                    + "got " + a.length + " and " + b.length);
        }
        int n = a.length;
        double value = Stats.of(a).median() / Stats.of(b).median();
        var rnd = new SplittableRandom(SEED);
        double[] ratios = new double[RESAMPLES];
        double[] ra = new double[n], rb = new double[n];
        for (int r = 0; r < RESAMPLES; r++) {
            for (int i = 0; i < n; i++) {
                int k = rnd.nextInt(n);
                ra[i] = a[k];
                rb[i] = b[k];
            }
            Arrays.sort(ra);
            Arrays.sort(rb);
            ratios[r] = Stats.quantileOfSorted(ra, 0.5) / Stats.quantileOfSorted(rb, 0.5);
        }
        Arrays.sort(ratios);
        return new Ratio(value, Stats.quantileOfSorted(ratios, 0.025), Stats.quantileOfSorted(ratios, 0.975));
    }
}
