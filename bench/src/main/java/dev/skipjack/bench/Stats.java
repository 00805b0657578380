package dev.skipjack.bench;

import java.util.Arrays;

/**
 * Order statistics of a sample of timings. Medians and percentiles rather than means, because a noisy shared
 * machine adds long one-sided tails (a preempted iteration) that would drag a mean.
 *
 * @param count  number of samples
 * @param median the 50th percentile
 * @param p10    the 10th percentile (linear interpolation between order statistics, as numpy's default)
 * @param p90    the 90th percentile
 * @param mad    median absolute deviation from the median (unscaled)
 * @param min    the fastest sample
 * @param max    the slowest sample
 */
public record Stats(int count, double median, double p10, double p90, double mad, double min, double max) {

    /** Summarizes {@code samples} (not modified). */
    public static Stats of(double[] samples) {
        if (samples.length == 0) {
            throw new IllegalArgumentException("no samples to summarize");
        }
        double[] s = samples.clone();
        Arrays.sort(s);
        double median = quantileOfSorted(s, 0.5);
        double[] dev = new double[s.length];
        for (int i = 0; i < s.length; i++) {
            dev[i] = Math.abs(s[i] - median);
        }
        Arrays.sort(dev);
        return new Stats(s.length, median, quantileOfSorted(s, 0.1), quantileOfSorted(s, 0.9),
                quantileOfSorted(dev, 0.5), s[0], s[s.length - 1]);
    }

    /** The q-quantile (0..1) of an ascending array, interpolating linearly between neighbours. */
    static double quantileOfSorted(double[] sorted, double q) {
        if (q < 0 || q > 1) {
            throw new IllegalArgumentException("quantile " + q + " outside [0, 1]");
        }
        double h = (sorted.length - 1) * q;
        int lo = (int) Math.floor(h);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    /** Every statistic multiplied by {@code factor} (e.g. per batch to per image). */
    public Stats scaled(double factor) {
        return new Stats(count, median * factor, p10 * factor, p90 * factor, mad * factor, min * factor,
                max * factor);
    }
}
