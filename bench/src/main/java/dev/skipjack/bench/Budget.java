package dev.skipjack.bench;

import java.util.Locale;

/**
 * How long a phase of the bench (warm-up or measurement) lasts: a number of rounds, or a wall-clock budget.
 * A round runs every runtime under test once, so a count of 30 gives each runtime 30 samples.
 *
 * @param rounds  rounds to run when count-based; 0 when time-based
 * @param nanos   wall-clock budget when time-based; 0 when count-based
 * @param minRounds for a time budget, rounds that run even when the budget is already spent (a median of
 *                  fewer than a few samples means little)
 */
public record Budget(int rounds, long nanos, int minRounds) {
    /** Rounds a time budget always runs for the measurement phase, so the spread has meaning. */
    public static final int MIN_MEASURED_ROUNDS = 5;

    public Budget {
        if (rounds < 0 || nanos < 0 || minRounds < 0) {
            throw new IllegalArgumentException("negative budget: rounds " + rounds + ", nanos " + nanos);
        }
        if (rounds > 0 && nanos > 0) {
            throw new IllegalArgumentException("a budget is a count or a time, not both");
        }
    }

    public static Budget ofRounds(int rounds) {
        return new Budget(rounds, 0, 0);
    }

    public static Budget ofNanos(long nanos, int minRounds) {
        if (nanos <= 0) {
            throw new IllegalArgumentException("a time budget must be positive");
        }
        return new Budget(0, nanos, minRounds);
    }

    /**
     * Parses "30" (rounds), "10s", "2.5s" or "500ms" (wall-clock). {@code allowZero} admits "0" (no warm-up).
     *
     * @throws IllegalArgumentException naming {@code option} and the bad value
     */
    public static Budget parse(String option, String value, boolean allowZero, int minRounds) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        try {
            if (v.endsWith("ms")) {
                return ofNanos(seconds(v.substring(0, v.length() - 2), option, value) / 1000.0, minRounds);
            }
            if (v.endsWith("s")) {
                return ofNanos(seconds(v.substring(0, v.length() - 1), option, value), minRounds);
            }
            int n = Integer.parseInt(v);
            if (n < 0 || (n == 0 && !allowZero)) {
                throw new IllegalArgumentException(option + " must be " + (allowZero ? "0 or more" : "at least 1")
                        + " rounds, or a time like 10s or 500ms; got '" + value + "'");
            }
            return ofRounds(n);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " takes a number of rounds (e.g. 30) or a time (e.g. 10s, "
                    + "500ms); got '" + value + "'");
        }
    }

    private static Budget ofNanos(double seconds, int minRounds) {
        return ofNanos(Math.round(seconds * 1e9), minRounds);
    }

    private static double seconds(String number, String option, String value) {
        double s = Double.parseDouble(number);
        if (!(s > 0) || Double.isInfinite(s)) {
            throw new IllegalArgumentException(option + " time must be positive; got '" + value + "'");
        }
        return s;
    }

    public boolean isTimed() {
        return nanos > 0;
    }

    /** True when a phase that has run {@code done} rounds in {@code elapsedNanos} should stop. */
    public boolean isSpent(int done, long elapsedNanos) {
        if (isTimed()) {
            return done >= minRounds && elapsedNanos >= nanos;
        }
        return done >= rounds;
    }

    /** "30 rounds", "10 s", "0.5 s": how the budget reads in a progress line and the history. */
    public String describe() {
        if (isTimed()) {
            return Report.trimNumber(nanos / 1e9) + " s";
        }
        return rounds + (rounds == 1 ? " round" : " rounds");
    }
}
