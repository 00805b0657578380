package dev.skipjack.bench;

import java.util.function.LongSupplier;

/** A clock that moves only when a test says so: timings become exact and tests never depend on the machine. */
final class FakeClock implements LongSupplier {
    private long now = 1_000_000_000L;

    @Override
    public long getAsLong() {
        return now;
    }

    void advanceMillis(double ms) {
        now += Math.round(ms * 1e6);
    }
}
