package dev.skipjack.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelTest {

    /**
     * While one thread runs a long last task the other reads the named segment, all of it once; after null it reads
     * nothing more (a task of 50 ms: time enough to read some of a segment, compiled or not). A segment that some threads may not read is refused, and one whose arena was closed is dropped
     * without failing the call.
     */
    @Test
    void idleThreadsReadTheNamedSegmentOnce() throws Exception {
        assumeTrue(Parallel.IDLE_READS, "-Dskipjack.parallel.idleReads=false");
        try (Parallel par = new Parallel(2); Arena arena = Arena.ofShared()) {
            long size = (1 << 20) + 200; // two parts of whole lines, the second with the 200 bytes after them
            MemorySegment seg = arena.allocate(size, 64);
            Parallel.Task uneven = i -> {
                if (i == 0) {
                    sleepMillis(50); // the other thread is idle meanwhile, whichever runs this
                }
            };
            long before = par.idleReadBytes();
            // task 0 lasts until the other thread has read the segment (at most 20 s: the first reads run in the
            // interpreter), then one more call: each line read once, and nothing after the end
            Parallel.Task untilRead = i -> {
                long end = System.nanoTime() + 20_000_000_000L;
                while (i == 0 && par.idleReadBytes() - before < size && System.nanoTime() < end) {
                    sleepMillis(1);
                }
            };
            par.readWhileIdle(seg);
            par.forEach(2, untilRead);
            par.forEach(2, uneven);
            assertEquals(size, par.idleReadBytes() - before, "the whole segment, each line once");
            par.readWhileIdle(null);
            long after = par.idleReadBytes();
            par.readWhileIdle(null);
            par.forEach(2, uneven);
            assertEquals(after, par.idleReadBytes(), "nothing named: nothing read");

            try (Arena confined = Arena.ofConfined()) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> par.readWhileIdle(confined.allocate(4096)));
                assertEquals("readWhileIdle: the segment must be readable by every thread of the pool (a shared, "
                        + "automatic or global arena's)", e.getMessage());
            }
            Arena gone = Arena.ofShared();
            MemorySegment closed = gone.allocate(1 << 16, 64);
            gone.close();
            par.readWhileIdle(closed);
            par.forEach(2, uneven);
            assertEquals(after, par.idleReadBytes(), "a closed arena's segment: dropped, nothing read");
            AtomicIntegerArray hits = new AtomicIntegerArray(5);
            par.forEach(5, hits::incrementAndGet);
            for (int i = 0; i < 5; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    private static void sleepMillis(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void runsEveryIndexExactlyOnce() {
        for (int threads : new int[] {1, 2, 3, 5}) {
            try (Parallel par = new Parallel(threads)) {
                assertEquals(threads, par.threads());
                for (int round = 0; round < 2000; round++) {
                    int tasks = round % 17;
                    AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(tasks, 1));
                    par.forEach(tasks, hits::incrementAndGet);
                    for (int i = 0; i < tasks; i++) {
                        assertEquals(1, hits.get(i), "threads=" + threads + " round " + round + " index " + i);
                    }
                }
            }
        }
    }

    /**
     * On Linux with native access (the build's test JVMs have it) and at least two CPUs, a worker woken from park
     * runs on a CPU other than the caller's, and then has the process's whole CPU mask again, as the kernel
     * reports it for that thread. Left to Linux, the woken worker shared the caller's CPU in most such rounds.
     */
    @Test
    void wakesAParkedWorkerAwayFromTheCallersCpu() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = Affinity.newMask(arena);
            assumeTrue(Affinity.available() && Affinity.getMask(0, mask) && Affinity.count(mask) >= 2,
                    "steering needs Linux, native access and 2 CPUs");
        }
        String whole = allowedList();
        try (Parallel par = new Parallel(2)) {
            assertTrue(par.steersWorkers());
            int together = 0;
            for (int round = 0; round < 20; round++) {
                Thread.sleep(25); // the worker spins 10 ms, then parks; steered once parked for 2 ms
                int[] cpus = {-1, -1};
                String[] list = {null};
                CountDownLatch both = new CountDownLatch(2);
                par.forEach(2, i -> { // each task waits for the other: one runs on the worker
                    boolean worker = Thread.currentThread().getName().startsWith("skipjack-worker");
                    cpus[worker ? 1 : 0] = Affinity.currentCpu();
                    if (worker) {
                        list[0] = allowedList();
                    }
                    both.countDown();
                    try {
                        both.await();
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
                if (cpus[0] == cpus[1]) {
                    together++;
                }
                assertEquals(whole, list[0], "the worker's Cpus_allowed_list after its wake-up, round " + round);
            }
            assertTrue(together <= 2, "the woken worker ran on the caller's CPU in " + together + " of 20 rounds");
        }
    }

    /**
     * wake() gets a parked worker running (it spins, so the next job starts without the wake-up's delay) and,
     * with no job coming, it parks again after its spin; left alone, a parked worker stays parked.
     */
    @Test
    void wakeStartsAParkedWorkerThatParksAgainWithoutAJob() throws Exception {
        try (Parallel par = new Parallel(2)) {
            Thread[] worker = {null};
            CountDownLatch both = new CountDownLatch(2);
            par.forEach(2, i -> { // each task waits for the other: one runs on the worker
                if (Thread.currentThread().getName().startsWith("skipjack-worker")) {
                    worker[0] = Thread.currentThread();
                }
                both.countDown();
                try {
                    both.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread w = worker[0];
            assertTrue(awaitState(w, Thread.State.WAITING, 5_000), "the worker parks after its spin: " + w.getState());
            Thread.sleep(30);
            assertEquals(Thread.State.WAITING, w.getState(), "a parked worker nobody wakes");
            // It spins (10 ms by default) rather than parking again at once: still running a millisecond after wake().
            // On a loaded machine this thread may not run again within the spin, so up to five wakes, each seen
            // from 1 to 5 ms after it (a CI run whose other JVM kept the CPUs busy saw it parked after a late sleep).
            boolean spun = false;
            for (int attempt = 0; attempt < 5 && !spun; attempt++) {
                assertTrue(awaitState(w, Thread.State.WAITING, 5_000), "the worker parks: " + w.getState());
                long woke = System.nanoTime();
                par.wake();
                assertTrue(awaitState(w, Thread.State.RUNNABLE, 5_000), "the worker runs after wake(): " + w.getState());
                for (long since; (since = System.nanoTime() - woke) < 5_000_000 && !spun; Thread.sleep(0, 50_000)) {
                    spun = since >= 1_000_000 && w.getState() == Thread.State.RUNNABLE;
                }
            }
            assertTrue(spun, "the worker still running 1 ms after wake(), in 5 wakes");
            assertTrue(awaitState(w, Thread.State.WAITING, 5_000), "and parks again: " + w.getState());
            AtomicIntegerArray hits = new AtomicIntegerArray(8);
            par.forEach(8, hits::incrementAndGet);
            for (int i = 0; i < 8; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    /** Polls {@code t}'s state every 50 us until it is {@code state}, for at most {@code millis}. */
    private static boolean awaitState(Thread t, Thread.State state, long millis) throws InterruptedException {
        long end = System.nanoTime() + millis * 1_000_000;
        while (System.nanoTime() < end) {
            if (t.getState() == state) {
                return true;
            }
            Thread.sleep(0, 50_000);
        }
        return t.getState() == state;
    }

    private static String allowedList() {
        try {
            return Files.readAllLines(Path.of("/proc/thread-self/status")).stream()
                    .filter(l -> l.startsWith("Cpus_allowed_list:")).map(l -> l.substring(18).trim())
                    .findFirst().orElseThrow();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void usesSeveralThreads() throws Exception {
        try (Parallel par = new Parallel(2)) {
            var names = ConcurrentHashMap.<String>newKeySet();
            CountDownLatch both = new CountDownLatch(2);
            // Each task waits for the other, so the two must run on two threads at once.
            par.forEach(2, i -> {
                names.add(Thread.currentThread().getName());
                both.countDown();
                try {
                    both.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertEquals(2, names.size());
        }
    }

    @Test
    void indexIRunsOnThreadIWhereThreadIComesForIt() throws Exception {
        // Kernels that split a layer into per-thread shares (Shares) take the index as the share, so that each core
        // reads and writes the same part of every buffer layer after layer: thread i must get index i, the caller
        // index 0 and worker k index k, call after call. Each task waits until all three run, so every thread
        // comes for one index (with a counter handing them out in claim order, a worker got its own in some calls
        // and the other's in others).
        try (Parallel par = new Parallel(3)) {
            String[] expected = {Thread.currentThread().getName(), "skipjack-worker-1", "skipjack-worker-2"};
            for (int call = 0; call < 200; call++) {
                String[] ran = new String[5];
                CountDownLatch all = new CountDownLatch(3);
                par.forEach(5, i -> {
                    ran[i] = Thread.currentThread().getName();
                    if (i < 3) {
                        all.countDown();
                        try {
                            assertTrue(all.await(10, java.util.concurrent.TimeUnit.SECONDS), "three threads at once");
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                });
                for (int i = 0; i < 3; i++) {
                    assertEquals(expected[i], ran[i], "call " + call + ", index " + i);
                }
            }
        }
    }

    @Test
    void rethrowsTheFirstFailureAfterAllTasksRan() {
        try (Parallel par = new Parallel(3)) {
            AtomicIntegerArray hits = new AtomicIntegerArray(50);
            IllegalArgumentException boom = new IllegalArgumentException("boom");
            var thrown = assertThrows(IllegalArgumentException.class, () -> par.forEach(50, i -> {
                hits.incrementAndGet(i);
                if (i == 7) {
                    throw boom;
                }
            }));
            assertSame(boom, thrown);
            for (int i = 0; i < 50; i++) {
                assertEquals(1, hits.get(i));
            }
            // The pool still works afterwards.
            AtomicIntegerArray again = new AtomicIntegerArray(10);
            par.forEach(10, again::incrementAndGet);
            for (int i = 0; i < 10; i++) {
                assertEquals(1, again.get(i));
            }
        }
    }

    @Test
    void concurrentCallersAreSerialized() throws Exception {
        try (Parallel par = new Parallel(2)) {
            Thread[] callers = new Thread[3];
            AtomicIntegerArray sums = new AtomicIntegerArray(callers.length);
            for (int c = 0; c < callers.length; c++) {
                int me = c;
                callers[c] = new Thread(() -> {
                    for (int r = 0; r < 300; r++) {
                        par.forEach(8, i -> sums.addAndGet(me, i));
                    }
                });
                callers[c].start();
            }
            for (Thread t : callers) {
                t.join();
            }
            for (int c = 0; c < callers.length; c++) {
                assertEquals(300 * 28, sums.get(c));
            }
        }
    }

    @Test
    void rejectsReentryAndUseAfterClose() {
        Parallel par = new Parallel(2);
        assertThrows(IllegalStateException.class, () -> par.forEach(4, i -> par.forEach(2, j -> { })));
        par.close();
        par.close();
        assertThrows(IllegalStateException.class, () -> par.forEach(1, i -> { }));
        assertThrows(IllegalArgumentException.class, () -> new Parallel(0));
    }
}
