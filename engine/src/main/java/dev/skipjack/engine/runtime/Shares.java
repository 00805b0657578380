package dev.skipjack.engine.runtime;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Items {@code [0, items)} cut into {@code parts} contiguous shares, one per thread, with stealing: a part takes
 * the items of its own share in order from the front, then helps with what is left of the others', taking theirs
 * from the back. When the threads run alike each one does exactly its share, so a kernel whose items are pixel
 * blocks of channels-last values reads and writes the same share of every buffer on the same core, layer after
 * layer; when one is held up (a shared host can deschedule a core for milliseconds, or run it slower for a while)
 * the other takes over the rest of its share instead of waiting, from the end the owner reaches last: the owner's
 * next items stay in order (a stem row whose input window the previous one half gathered, a panel whose weights
 * are in cache), and the two meet at one item.
 *
 * <p>One instance per job; {@link #reset} before each use from the thread that starts the job. Claims never
 * allocate. A share's front and back sit in one word, a cache line from the next share's, so a part claiming from
 * its own share does not contend with the others.
 */
public final class Shares {
    private static final int STRIDE = 8; // longs per share: 64 bytes
    // per share p at p * STRIDE: (front << 32) | back, the share's unclaimed items [front, back) counted from its start
    private AtomicLongArray range = new AtomicLongArray(STRIDE);
    private int items, parts;

    /** Starts a job of {@code items} items in {@code parts} shares; allocates only when parts grows. */
    public void reset(int items, int parts) {
        if (items < 0 || parts < 1) {
            throw new IllegalArgumentException("Shares: items must be >= 0 and parts >= 1, got " + items + ", " + parts);
        }
        if (range.length() < parts * STRIDE) {
            range = new AtomicLongArray(parts * STRIDE);
        }
        this.items = items;
        this.parts = parts;
        for (int p = 0; p < parts; p++) {
            range.set(p * STRIDE, start(p + 1) - start(p));
        }
    }

    /** The first item of share {@code p}. */
    private int start(int p) {
        return (int) ((long) items * p / parts);
    }

    /**
     * The next item for part {@code self}: the front of its own share, else the back of the others' in turn; -1
     * when none is left.
     */
    public int claim(int self) {
        for (int k = 0; k < parts; k++) {
            int p = (self + k) % parts;
            int at = p * STRIDE;
            for (;;) {
                long v = range.get(at);
                int front = (int) (v >>> 32), back = (int) v;
                if (front >= back) {
                    break;
                }
                if (k == 0 ? range.compareAndSet(at, v, v + (1L << 32)) : range.compareAndSet(at, v, v - 1)) {
                    return start(p) + (k == 0 ? front : back - 1);
                }
            }
        }
        return -1;
    }
}
