package dev.skipjack.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelTest {

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
     * On Linux with native access (the build's test JVMs have it) and at least two CPUs, a 2-thread pool's worker
     * is pinned to one CPU other than the first of the process's mask, as the kernel reports it for that thread;
     * a pool with more threads than CPUs pins nothing.
     */
    @Test
    void pinsItsWorkerToOneCpuOfItsOwn() throws Exception {
        int[] cpus = Affinity.allowedCpus();
        assumeTrue(Affinity.available() && cpus.length >= 2, "pinning needs Linux, native access and 2 CPUs");
        assertEquals(Runtime.getRuntime().availableProcessors(), cpus.length, "the mask read through FFM");
        try (Parallel par = new Parallel(2)) {
            int cpu = par.pinnedCpus()[0];
            assertTrue(cpu != cpus[0] && Arrays.stream(cpus).anyMatch(c -> c == cpu),
                    "worker pinned to " + cpu + ", allowed " + Arrays.toString(cpus));
            var seen = ConcurrentHashMap.<String>newKeySet();
            CountDownLatch both = new CountDownLatch(2);
            par.forEach(2, i -> { // each task waits for the other: one runs on the worker
                if (Thread.currentThread().getName().startsWith("skipjack-worker")) {
                    seen.add(allowedList());
                }
                both.countDown();
                try {
                    both.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertEquals(java.util.Set.of(Integer.toString(cpu)), seen, "Cpus_allowed_list of the worker thread");
        }
        try (Parallel par = new Parallel(cpus.length + 1)) {
            assertTrue(Arrays.stream(par.pinnedCpus()).allMatch(c -> c == -1), Arrays.toString(par.pinnedCpus()));
        }
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
