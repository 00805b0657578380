package dev.skipjack.bench.kernels;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The clock the kernel probes time single-threaded work with: this thread's CPU time where the JVM offers it.
 * On a machine shared with other busy processes, wall time counts the intervals this thread was descheduled;
 * CPU time does not, so a kernel's rate and the FMA peak stay comparable. Set
 * {@code -Dskipjack.bench.clock=wall} for wall time.
 */
final class Clock {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final boolean CPU = !"wall".equals(System.getProperty("skipjack.bench.clock"))
            && THREADS.isCurrentThreadCpuTimeSupported();

    private Clock() {
    }

    static String name() {
        return CPU ? "thread CPU time" : "wall time";
    }

    /** Nanoseconds on this thread's clock. */
    static long now() {
        return CPU ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }
}
