package dev.skipjack.engine.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Pins a thread to one CPU, through Linux's {@code sched_setaffinity} called with the FFM API, so that
 * {@link Parallel}'s workers wake up on a core of their own.
 *
 * <p>Why: after both of a pool's threads had slept (a caller idle between requests for 100 ms, the worker
 * parked), Linux woke the worker onto the caller's CPU, where it waited behind the caller, then shared that CPU
 * with it, for about 4 ms before the load balancer moved it. A probe of 25 jobs of 0.4 ms each took 16.2-17.3
 * ms instead of 10.1-10.5 (its first seven jobs ran at half speed); with the worker pinned to another CPU,
 * 10.1-10.3 ms. {@code ./skipjack bench}'s 30 ms pause before each call met the same effect.
 *
 * <p>Only where it can be done quietly: on Linux, with native access enabled for this code's module
 * ({@code --enable-native-access=ALL-UNNAMED} on the class path; without it the JDK would print a warning on
 * the first call), where libc has the two functions. Elsewhere {@link #available} is false and nothing is
 * pinned. {@code -Dskipjack.parallel.pin=false} turns pinning off.
 */
public final class Affinity {
    /** The mask's size in bytes: 1024 CPUs, glibc's {@code cpu_set_t}. */
    private static final int MASK_BYTES = 128;
    static final boolean ENABLED = !"false".equals(System.getProperty("skipjack.parallel.pin"));
    private static final MethodHandle SET;
    private static final MethodHandle GET;
    /** Workers pinned so far in this process: the next one takes the next CPU, counting down from the last. */
    private static final AtomicInteger PINNED = new AtomicInteger();

    static {
        MethodHandle set = null, get = null;
        try {
            if (ENABLED && System.getProperty("os.name", "").startsWith("Linux")
                    && Affinity.class.getModule().isNativeAccessEnabled()) {
                Linker linker = Linker.nativeLinker();
                FunctionDescriptor fd = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_LONG, ValueLayout.ADDRESS);
                Optional<MemorySegment> s = linker.defaultLookup().find("sched_setaffinity");
                Optional<MemorySegment> g = linker.defaultLookup().find("sched_getaffinity");
                if (s.isPresent() && g.isPresent()) {
                    set = linker.downcallHandle(s.get(), fd);
                    get = linker.downcallHandle(g.get(), fd);
                }
            }
        } catch (RuntimeException | LinkageError e) {
            set = get = null; // no pinning: the pool works unpinned
        }
        SET = set;
        GET = get;
    }

    private Affinity() {}

    /** Whether threads can be pinned here (see the class comment). */
    public static boolean available() {
        return SET != null;
    }

    /**
     * The CPUs this process may run on (its affinity mask), ascending; empty where that cannot be read.
     */
    static int[] allowedCpus() {
        if (GET == null) {
            return new int[0];
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(MASK_BYTES, 8);
            int rc = (int) GET.invokeExact(0, (long) MASK_BYTES, mask);
            if (rc != 0) {
                return new int[0];
            }
            int count = 0;
            for (int i = 0; i < MASK_BYTES / 8; i++) {
                count += Long.bitCount(mask.getAtIndex(ValueLayout.JAVA_LONG, i));
            }
            int[] cpus = new int[count];
            for (int cpu = 0, k = 0; cpu < MASK_BYTES * 8; cpu++) {
                if ((mask.getAtIndex(ValueLayout.JAVA_LONG, cpu >>> 6) & (1L << (cpu & 63))) != 0) {
                    cpus[k++] = cpu;
                }
            }
            return cpus;
        } catch (Throwable t) {
            return new int[0];
        }
    }

    /**
     * Pins the calling thread, a pool's worker, to a CPU of this process's mask when the mask has more CPUs than
     * {@code poolThreads} minus one (a CPU is left for the pool's caller): the last CPU for the first worker
     * pinned in the process, the one before it for the second, and so on around the mask, so that the workers of
     * one pool, and of several, spread out and the first CPU stays with the callers.
     *
     * @return the CPU, or -1 where the thread was not pinned
     */
    static int pinWorker(int poolThreads) {
        if (SET == null) {
            return -1;
        }
        int[] cpus = allowedCpus();
        if (cpus.length < Math.max(2, poolThreads)) {
            return -1;
        }
        int k = PINNED.getAndIncrement();
        int cpu = cpus[cpus.length - 1 - Math.floorMod(k, cpus.length - 1)];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(MASK_BYTES, 8);
            mask.setAtIndex(ValueLayout.JAVA_LONG, cpu >>> 6, 1L << (cpu & 63));
            int rc = (int) SET.invokeExact(0, (long) MASK_BYTES, mask);
            return rc == 0 ? cpu : -1;
        } catch (Throwable t) {
            return -1;
        }
    }
}
