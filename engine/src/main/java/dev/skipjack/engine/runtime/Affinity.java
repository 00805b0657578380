package dev.skipjack.engine.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Steers a parked {@link Parallel} worker away from the CPU of the thread that wakes it, through Linux's
 * {@code sched_setaffinity}, {@code sched_getcpu} and {@code gettid} called with the FFM API.
 *
 * <p>Why: after both of a pool's threads had slept (a caller idle between requests for 100 ms, the worker
 * parked), Linux woke the worker onto the caller's CPU, where it waited behind the caller, then shared that CPU
 * with it, for about 4 ms before the load balancer moved it. A probe of 25 jobs of 0.4 ms each took 16.2-17.3
 * ms instead of 10.1-10.5 (its first seven jobs ran at half speed); ResNet-18 requests 100 ms apart 16.7 ms
 * instead of 10.9. So the waker first narrows the worker's affinity to the other CPUs of the process's mask (for
 * a worker parked at least 2 ms, outside warm-ups: see {@code Parallel.STEER_AFTER_NANOS}); the worker, once
 * running, widens it again, so that the scheduler can still move it off a CPU another process
 * keeps busy. (Pinned for good, a worker stayed on the one CPU where ONNX Runtime's spinning thread also ran in
 * {@code ./skipjack bench}, and ResNet-18 batch 1 read 1.44-1.46 of ONNX Runtime's time in runs where unpinned it
 * read 1.07-1.13.)
 *
 * <p>Only where it can be done quietly: on Linux, with native access enabled for this code's module
 * ({@code --enable-native-access=ALL-UNNAMED} on the class path; without it the JDK would print a warning on
 * the first call), where libc has the functions. Elsewhere {@link #available} is false and nothing is steered.
 * {@code -Dskipjack.parallel.steer=false} turns it off. Nothing here allocates after class initialization.
 */
public final class Affinity {
    /** The mask's size in bytes: 1024 CPUs, glibc's {@code cpu_set_t}. */
    static final int MASK_BYTES = 128;
    static final boolean ENABLED = !"false".equals(System.getProperty("skipjack.parallel.steer"));
    private static final MethodHandle SET;
    private static final MethodHandle GET;
    private static final MethodHandle GETCPU;
    private static final MethodHandle GETTID;

    static {
        MethodHandle set = null, get = null, getcpu = null, gettid = null;
        try {
            if (ENABLED && System.getProperty("os.name", "").startsWith("Linux")
                    && Affinity.class.getModule().isNativeAccessEnabled()) {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                FunctionDescriptor mask = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_LONG, ValueLayout.ADDRESS);
                FunctionDescriptor noArgs = FunctionDescriptor.of(ValueLayout.JAVA_INT);
                var s = libc.find("sched_setaffinity");
                var g = libc.find("sched_getaffinity");
                var c = libc.find("sched_getcpu");
                var t = libc.find("gettid");
                if (s.isPresent() && g.isPresent() && c.isPresent() && t.isPresent()) {
                    set = linker.downcallHandle(s.get(), mask);
                    get = linker.downcallHandle(g.get(), mask);
                    getcpu = linker.downcallHandle(c.get(), noArgs);
                    gettid = linker.downcallHandle(t.get(), noArgs);
                }
            }
        } catch (RuntimeException | LinkageError e) {
            set = get = getcpu = gettid = null; // nothing steered: the pool works as on any other system
        }
        SET = set;
        GET = get;
        GETCPU = getcpu;
        GETTID = gettid;
    }

    private Affinity() {}

    /** Whether workers can be steered here (see the class comment). */
    public static boolean available() {
        return SET != null;
    }

    /** The calling thread's kernel thread id, -1 where not {@link #available}. */
    static int currentTid() {
        return noArgs(GETTID);
    }

    /** The CPU the calling thread runs on, -1 where not {@link #available}. */
    static int currentCpu() {
        return noArgs(GETCPU);
    }

    /**
     * Reads the affinity mask of thread {@code tid} (0: the caller) into {@code mask} ({@link #MASK_BYTES} bytes).
     *
     * @return whether it could
     */
    static boolean getMask(int tid, MemorySegment mask) {
        return onMask(GET, tid, mask);
    }

    /** Sets the affinity mask of thread {@code tid} (0: the caller) to {@code mask}; whether it could. */
    static boolean setMask(int tid, MemorySegment mask) {
        return onMask(SET, tid, mask);
    }

    private static int noArgs(MethodHandle h) {
        if (h == null) {
            return -1;
        }
        try {
            return (int) h.invokeExact();
        } catch (Throwable t) {
            return -1;
        }
    }

    private static boolean onMask(MethodHandle h, int tid, MemorySegment mask) {
        if (h == null) {
            return false;
        }
        try {
            return (int) h.invokeExact(tid, (long) MASK_BYTES, mask) == 0;
        } catch (Throwable t) {
            return false;
        }
    }

    /** Number of CPUs set in {@code mask}. */
    static int count(MemorySegment mask) {
        int n = 0;
        for (int i = 0; i < MASK_BYTES / 8; i++) {
            n += Long.bitCount(mask.getAtIndex(ValueLayout.JAVA_LONG, i));
        }
        return n;
    }

    /** {@code dst} = {@code src} without {@code cpu}. */
    static void without(MemorySegment src, int cpu, MemorySegment dst) {
        MemorySegment.copy(src, 0, dst, 0, MASK_BYTES);
        if (cpu >= 0 && cpu < MASK_BYTES * 8) {
            long word = dst.getAtIndex(ValueLayout.JAVA_LONG, cpu >>> 6);
            dst.setAtIndex(ValueLayout.JAVA_LONG, cpu >>> 6, word & ~(1L << (cpu & 63)));
        }
    }

    /** Whether {@code cpu} is set in {@code mask}. */
    static boolean has(MemorySegment mask, int cpu) {
        return cpu >= 0 && cpu < MASK_BYTES * 8
                && (mask.getAtIndex(ValueLayout.JAVA_LONG, cpu >>> 6) & (1L << (cpu & 63))) != 0;
    }

    /** A zeroed mask of {@link #MASK_BYTES} in {@code arena}. */
    static MemorySegment newMask(Arena arena) {
        return arena.allocate(MASK_BYTES, 8);
    }
}
