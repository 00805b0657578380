package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class HarnessTest {
    private final FakeClock clock = new FakeClock();
    private final List<String> log = new ArrayList<>();
    private final ByteArrayOutputStream progressText = new ByteArrayOutputStream();
    private final Harness harness =
            new Harness(clock, new Progress(new PrintStream(progressText), false, clock), 0, nanos -> { });

    private List<Harness.Timing> measure(List<ScriptedRunner> runners, int n, Budget warmup, Budget measure)
            throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            var input = Bench.seededInput(arena, n, 4, 4, 1);
            for (var r : runners) {
                r.bind(input, n, 4, 4);
            }
            log.clear();
            return harness.measure(runners, "batch " + n, warmup, measure);
        }
    }

    @Test
    void firstCallsThenRoundsAlternatingOrder() throws Exception {
        var a = new ScriptedRunner("A", clock, 500, 10, 0, 3, log);
        var b = new ScriptedRunner("B", clock, 300, 20, 0, 3, log);
        List<Harness.Timing> t = measure(List.of(a, b), 1, Budget.ofRounds(2), Budget.ofRounds(3));
        // first calls A, B; warm-up AB BA; measured AB BA AB
        assertEquals(List.of("A", "B", "A", "B", "B", "A", "A", "B", "B", "A", "A", "B"), log);
        assertEquals(500, t.get(0).firstCallMs(), 1e-9);
        assertEquals(300, t.get(1).firstCallMs(), 1e-9);
        assertEquals(2, t.get(0).warmupRounds());
        assertArrayEquals(new double[] {10, 10, 10}, t.get(0).samplesMs(), 1e-9);
        assertArrayEquals(new double[] {20, 20, 20}, t.get(1).samplesMs(), 1e-9);
        assertEquals("A", t.get(0).runtime());
    }

    @Test
    void samplesAreWholeCallsNotPerImage() throws Exception {
        var a = new ScriptedRunner("A", clock, 1, 7, 0, 3, log);
        List<Harness.Timing> t = measure(List.of(a), 8, Budget.ofRounds(0), Budget.ofRounds(2));
        assertArrayEquals(new double[] {56, 56}, t.get(0).samplesMs(), 1e-9);
        assertEquals(0, t.get(0).warmupRounds());
    }

    @Test
    void timeBudgetStopsOnceSpent() throws Exception {
        var a = new ScriptedRunner("A", clock, 1, 10, 0, 3, log);
        var b = new ScriptedRunner("B", clock, 1, 15, 0, 3, log);
        // A round takes 25 ms: 100 ms of warm-up is 4 rounds; 1 ms of measurement still runs the minimum 5.
        List<Harness.Timing> t = measure(List.of(a, b), 1, Budget.ofNanos(100_000_000L, 0),
                Budget.ofNanos(1_000_000L, 5));
        assertEquals(4, t.get(0).warmupRounds());
        assertEquals(5, t.get(0).samplesMs().length);
        assertEquals(5, t.get(1).samplesMs().length);
    }

    @Test
    void pausesBeforeEveryCallWithoutTimingThePause() throws Exception {
        List<Long> pauses = new ArrayList<>();
        var paused = new Harness(clock, new Progress(new PrintStream(progressText), false, clock), 5_000_000L,
                nanos -> {
                    pauses.add(nanos);
                    log.add("pause");
                    clock.advanceMillis(nanos / 1e6);
                });
        var a = new ScriptedRunner("A", clock, 100, 10, 0, 3, log);
        var b = new ScriptedRunner("B", clock, 100, 20, 0, 3, log);
        try (Arena arena = Arena.ofConfined()) {
            var input = Bench.seededInput(arena, 1, 4, 4, 1);
            a.bind(input, 1, 4, 4);
            b.bind(input, 1, 4, 4);
            log.clear();
            // Each 30 ms round spends 10 ms more in pauses: a 70 ms budget is spent after 2 rounds, not 3.
            List<Harness.Timing> t = paused.measure(List.of(a, b), "batch 1", Budget.ofRounds(1),
                    Budget.ofNanos(70_000_000L, 1));
            assertEquals(List.of("pause", "A", "pause", "B", "pause", "A", "pause", "B"), log.subList(0, 8));
            assertArrayEquals(new double[] {10, 10}, t.get(0).samplesMs(), 1e-9);
            assertArrayEquals(new double[] {20, 20}, t.get(1).samplesMs(), 1e-9);
            assertEquals(2 + 2 + 4, pauses.size());
            assertEquals(5_000_000L, pauses.get(0));
        }
    }

    /**
     * After its pause the harness waits, in 5 ms windows, until the other threads use under 1 ms of CPU in a
     * window (here a thread that spins through three more windows), untimed; it counts the calls that waited.
     */
    @Test
    void waitsAfterThePauseUntilTheOtherThreadsAreIdle() throws Exception {
        long[] cpu = {0};
        int[] busyWindows = {3};
        List<Long> pauses = new ArrayList<>();
        var h = new Harness(clock, new Progress(new PrintStream(progressText), false, clock), 30_000_000L,
                nanos -> {
                    pauses.add(nanos);
                    clock.advanceMillis(nanos / 1e6);
                    if (nanos == Harness.QUIET_WINDOW_NANOS && busyWindows[0] > 0) {
                        busyWindows[0]--;
                        cpu[0] += nanos; // a spinning thread: all of the window
                    } else {
                        cpu[0] += 100_000; // a JIT thread's crumbs
                    }
                }, () -> cpu[0]);
        var a = new ScriptedRunner("A", clock, 100, 10, 0, 3, log);
        try (Arena arena = Arena.ofConfined()) {
            a.bind(Bench.seededInput(arena, 1, 4, 4, 1), 1, 4, 4);
            List<Harness.Timing> t = h.measure(List.of(a), "batch 1", Budget.ofRounds(0), Budget.ofRounds(2));
            // first call: pause, 3 busy windows, 1 idle one; then each measured call: pause, 1 idle window
            assertEquals(List.of(30_000_000L, 5_000_000L, 5_000_000L, 5_000_000L, 5_000_000L,
                    30_000_000L, 5_000_000L, 30_000_000L, 5_000_000L), pauses);
            assertArrayEquals(new double[] {10, 10}, t.get(0).samplesMs(), 1e-9);
            assertEquals(new Harness.Settling(3, 1, 15.0), h.settling());
        }
    }

    /** A thread that never goes idle holds each call up for at most MAX_QUIET_WAIT_NANOS after the pause. */
    @Test
    void waitsForIdleThreadsOnlySoLong() throws Exception {
        long[] cpu = {0};
        var h = new Harness(clock, new Progress(new PrintStream(progressText), false, clock), 30_000_000L,
                nanos -> {
                    clock.advanceMillis(nanos / 1e6);
                    cpu[0] += nanos;
                }, () -> cpu[0]);
        var a = new ScriptedRunner("A", clock, 100, 10, 0, 3, log);
        try (Arena arena = Arena.ofConfined()) {
            a.bind(Bench.seededInput(arena, 1, 4, 4, 1), 1, 4, 4);
            h.measure(List.of(a), "batch 1", Budget.ofRounds(0), Budget.ofRounds(1));
            assertEquals(new Harness.Settling(2, 2, 2 * Harness.MAX_QUIET_WAIT_NANOS / 1e6), h.settling());
        }
    }

    /** The real reader sees a spinning thread's CPU time grow, and stop growing once it sleeps. */
    @Test
    void threadCpuSeesOtherThreadsSpinAndSleep() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(ThreadCpu.othersNanos() >= 0, "needs Linux's /proc schedstat");
        var stop = new java.util.concurrent.atomic.AtomicBoolean();
        var spinner = new Thread(() -> {
            while (!stop.get()) {
                Thread.onSpinWait();
            }
        });
        spinner.start();
        try {
            Thread.sleep(5);
            long c0 = ThreadCpu.othersNanos();
            Thread.sleep(50);
            long spun = ThreadCpu.othersNanos() - c0;
            assertTrue(spun >= 10_000_000L, "a spinning thread used " + spun + " ns of CPU in 50 ms");
        } finally {
            stop.set(true);
            spinner.join();
        }
        // The calling thread's own CPU time is not counted: counted, it alone would make the others' time at least
        // its own. (The JVM's other threads, the JIT's above all, may use a good part of a core meanwhile: a CI
        // run saw 15 ms in a 30 ms spin.)
        var threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long c1 = ThreadCpu.othersNanos();
        long self0 = threads.getCurrentThreadCpuTime();
        long selfBusy = System.nanoTime() + 100_000_000L;
        while (System.nanoTime() < selfBusy) {
            Thread.onSpinWait();
        }
        long self = threads.getCurrentThreadCpuTime() - self0;
        long others = ThreadCpu.othersNanos() - c1;
        assertTrue(others < self, "other threads used " + others + " ns while the caller spun for " + self);
    }

    @Test
    void aLogShowsEachPhaseOnce() throws Exception {
        var a = new ScriptedRunner("A", clock, 1, 10, 0, 3, log);
        measure(List.of(a), 1, Budget.ofRounds(3), Budget.ofRounds(4));
        String text = progressText.toString();
        assertEquals("""
                skipjack bench: batch 1: first call, A
                skipjack bench: batch 1: warming up (3 rounds)
                skipjack bench: batch 1: measuring (4 rounds)
                """, text.replace(System.lineSeparator(), "\n"));
    }
}
