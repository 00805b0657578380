package dev.skipjack.bench;

import java.io.PrintStream;
import java.util.function.LongSupplier;

/**
 * The progress line on stderr. On a terminal it rewrites one line in place (at most ten times a second, so
 * printing never shows in the timings); otherwise (a log file, a pipe) it prints each phase once, so a log
 * is not a stream of carriage returns.
 */
final class Progress {
    private static final long MIN_INTERVAL_NANOS = 100_000_000L;

    private final PrintStream out;
    private final boolean live;
    private final LongSupplier clock;
    private long lastPrint = Long.MIN_VALUE;
    private int lastLength;
    private String lastPhase = "";

    Progress(PrintStream out, boolean live, LongSupplier clock) {
        this.out = out;
        this.live = live;
        this.clock = clock;
    }

    /** Progress on {@code System.err}, live when a person is watching a terminal. */
    static Progress onStderr() {
        var console = System.console();
        return new Progress(System.err, console != null && console.isTerminal(), System::nanoTime);
    }

    /** A new phase ("batch 8: warming up"): always shown. */
    void phase(String text) {
        lastPhase = text;
        if (live) {
            rewrite(text);
        } else {
            out.println("skipjack bench: " + text);
        }
        lastPrint = clock.getAsLong();
    }

    /** A step inside the current phase ("3/10"): shown live only, and throttled. */
    void step(String detail) {
        if (!live) {
            return;
        }
        long now = clock.getAsLong();
        if (now - lastPrint < MIN_INTERVAL_NANOS) {
            return;
        }
        lastPrint = now;
        rewrite(lastPhase + " " + detail);
    }

    /** Clears the live line so the table starts on a clean line. */
    void clear() {
        if (live && lastLength > 0) {
            out.print("\r" + " ".repeat(lastLength) + "\r");
            out.flush();
            lastLength = 0;
        }
    }

    private void rewrite(String text) {
        String line = "skipjack bench: " + text;
        int pad = Math.max(0, lastLength - line.length());
        out.print("\r" + line + " ".repeat(pad));
        out.flush();
        lastLength = line.length();
    }
}
