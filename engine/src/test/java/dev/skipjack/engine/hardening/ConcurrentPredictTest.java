package dev.skipjack.engine.hardening;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.ResNet;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many threads on one model: each result bit-identical to a single thread's for the same input, whatever runs
 * beside it and whichever shape came before (buffers are reused and regrown); no deadlock; and close() while
 * calls are in flight lets them finish, then fails every later call with IllegalStateException, never freeing
 * memory under a running kernel (which would show as a different exception or a crash).
 */
class ConcurrentPredictTest {
    /** Shapes mixed so that contexts switch plans and grow their buffers mid-run. */
    private static final int[][] SHAPES = {{1, 16, 16}, {2, 16, 20}, {1, 23, 17}, {3, 9, 12}};
    @TempDir
    static Path dir;
    static Path file;
    static float[][] inputs = new float[SHAPES.length][];
    static float[][] expected = new float[SHAPES.length][];

    @BeforeAll
    static void singleThreaded() throws IOException {
        file = TinyModel.write(dir.resolve("tiny.skj"));
        try (var m = ResNet.load(file, new ResNet.Options(1))) {
            for (int s = 0; s < SHAPES.length; s++) {
                int[] sh = SHAPES[s];
                inputs[s] = TinyModel.input(sh[0], sh[1], sh[2], 100 + s);
                expected[s] = m.predict(inputs[s], sh[0], sh[1], sh[2]);
            }
        }
    }

    private static float[] run(ResNet m, int s) {
        int[] sh = SHAPES[s];
        return m.predict(inputs[s], sh[0], sh[1], sh[2]);
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void manyThreadsGiveSingleThreadResults() throws Exception {
        int threads = 6;
        int callsEach = 5;
        var failures = new ConcurrentLinkedQueue<Throwable>();
        var calls = new AtomicInteger();
        try (var m = ResNet.load(file, new ResNet.Options(2))) {
            var start = new CountDownLatch(1);
            List<Thread> ts = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int seed = t;
                ts.add(Thread.ofPlatform().start(() -> {
                    try {
                        start.await();
                        for (int i = 0; i < callsEach; i++) {
                            int s = (seed + i * 3) % SHAPES.length;
                            assertArrayEquals(expected[s], run(m, s), "thread " + seed + " call " + i + " shape " + s);
                            calls.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            start.countDown();
            for (Thread t : ts) {
                t.join();
            }
        }
        if (!failures.isEmpty()) {
            throw new AssertionError(failures.size() + " threads failed", failures.peek());
        }
        assertEquals(threads * callsEach, calls.get());
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void closeWhileCallsAreInFlightWaitsThenRefuses() throws Exception {
        for (int round = 0; round < 2; round++) {
            var m = ResNet.load(file, new ResNet.Options(2));
            int threads = 6;
            var failures = new ConcurrentLinkedQueue<Throwable>();
            var completed = new AtomicInteger();
            var refused = new AtomicInteger();
            var running = new CountDownLatch(threads);
            List<Thread> ts = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int seed = t;
                ts.add(Thread.ofPlatform().start(() -> {
                    running.countDown();
                    for (int i = 0; ; i++) {
                        int s = (seed + i) % SHAPES.length;
                        float[] out;
                        try {
                            out = run(m, s);
                        } catch (IllegalStateException e) {
                            if ("this model is closed".equals(e.getMessage())) {
                                refused.incrementAndGet();
                            } else {
                                failures.add(e); // e.g. "Already closed" from a segment freed under a kernel
                            }
                            return;
                        } catch (Throwable e) {
                            failures.add(e);
                            return;
                        }
                        if (!java.util.Arrays.equals(expected[s], out)) {
                            failures.add(new AssertionError("thread " + seed + ": wrong logits for shape " + s));
                            return;
                        }
                        completed.incrementAndGet();
                    }
                }));
            }
            running.await();
            Thread.sleep(200 + 150L * round);
            m.close();
            // Every call that was running when close() returned has finished: nothing may still run.
            for (Thread t : ts) {
                t.join(TimeUnit.MINUTES.toMillis(2));
                assertTrue(!t.isAlive(), "a caller is still running (deadlock?)");
            }
            if (!failures.isEmpty()) {
                throw new AssertionError("round " + round + ": " + failures.size() + " callers failed",
                        failures.peek());
            }
            assertEquals(threads, refused.get(), "every caller ends refused by the closed model");
            m.close(); // idempotent
            assertThrows(IllegalStateException.class, () -> run(m, 0));
            assertThrows(IllegalStateException.class, m::threads);
        }
    }
}
