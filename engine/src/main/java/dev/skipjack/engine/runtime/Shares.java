package dev.skipjack.engine.runtime;

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Items {@code [0, items)} cut into {@code parts} contiguous shares, one per thread, with stealing: a part takes
 * the items of its own share in order, then helps with what is left of the others'. When the threads run
 * alike each one does exactly its share, so a kernel whose items are pixel blocks of channels-last values
 * reads and writes the same share of every buffer on the same core, layer after layer; when one is held up (a
 * shared host can deschedule a core for milliseconds) the other takes over the rest instead of waiting.
 *
 * <p>One instance per job; {@link #reset} before each use from the thread that starts the job. Claims never
 * allocate. The counters sit a cache line apart, so a part claiming from its own share does not contend with
 * the others.
 */
public final class Shares {
    private static final int STRIDE = 16; // ints per counter: 64 bytes
    private AtomicIntegerArray next = new AtomicIntegerArray(STRIDE);
    private int items, parts;

    /** Starts a job of {@code items} items in {@code parts} shares; allocates only when parts grows. */
    public void reset(int items, int parts) {
        if (items < 0 || parts < 1) {
            throw new IllegalArgumentException("Shares: items must be >= 0 and parts >= 1, got " + items + ", " + parts);
        }
        if (next.length() < parts * STRIDE) {
            next = new AtomicIntegerArray(parts * STRIDE);
        }
        for (int p = 0; p < parts; p++) {
            next.set(p * STRIDE, 0);
        }
        this.items = items;
        this.parts = parts;
    }

    /** The first item of share {@code p}. */
    private int start(int p) {
        return (int) ((long) items * p / parts);
    }

    /** The next item for part {@code self}: from its own share, else from the others' in turn; -1 when none is left. */
    public int claim(int self) {
        for (int k = 0; k < parts; k++) {
            int p = self + k < parts ? self + k : self + k - parts;
            int lo = start(p), hi = start(p + 1);
            if (next.get(p * STRIDE) >= hi - lo) {
                continue;
            }
            int i = next.getAndIncrement(p * STRIDE);
            if (i < hi - lo) {
                return lo + i;
            }
        }
        return -1;
    }
}
