package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
