package dev.skipjack.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingStream;
import org.junit.jupiter.api.Test;

/**
 * An inference allocates nothing on the Java heap once the JIT has compiled the kernels, on the calling thread
 * or on the pool's workers. A kernel that allocates in its steady state is almost always a Vector API value
 * that C2 could not keep in registers (a helper returning a vector left out of line): the vectors then live
 * on the heap, and the kernel runs several times slower. Such a case was found in the Winograd output
 * transform, and only showed in some runs, depending on the JIT's inlining decisions.
 *
 * <p>Not a timing test: it counts bytes. It runs inferences until a round of them allocates nothing (the JIT
 * compiles the full-size paths a little after the warm-up at load), and fails if that does not happen within
 * the time limit, naming how much the last round allocated.
 */
class AllocationFreeTest {
    private static final long LIMIT_NANOS = 90_000_000_000L;
    private static final int ROUND = 20;

    @Test
    void steadyStateInferenceAllocatesNothing() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        // Every path: the stem and strided convolutions (PHASED), 1x1 (DIRECT), 3x3 stride 1 (WINOGRAD), pools,
        // the classifier, residuals; two threads so the workers' share is counted too.
        try (ResNet model = ResNet.seeded("resnet50", 3, new ResNet.Options(2));
             Arena arena = Arena.ofShared()) {
            int n = 1, h = 96, w = 80;
            MemorySegment in = arena.allocate(4L * n * 3 * h * w, 64);
            for (long i = 0; i < in.byteSize() / 4; i++) {
                in.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i * 0.37));
            }
            MemorySegment out = arena.allocate(4L * n * model.numClasses(), 64);
            long deadline = System.nanoTime() + LIMIT_NANOS;
            long last = -1;
            while (System.nanoTime() < deadline) {
                long[] ids = poolThreadIds();
                long before = allocated(threads, ids);
                for (int r = 0; r < ROUND; r++) {
                    model.predict(in, out, n, h, w);
                }
                last = allocated(threads, ids) - before;
                if (last == 0) {
                    return;
                }
            }
            fail("after " + LIMIT_NANOS / 1_000_000_000 + " s of inferences, " + ROUND + " of them still allocated "
                    + last + " bytes on the calling and worker threads (a kernel boxes vectors?); where, by JFR's "
                    + "allocation samples over 5 s more: " + allocationSites(() -> model.predict(in, out, n, h, w)));
        }
    }

    /**
     * The Skipjack frames that allocate while {@code inference} runs for 5 s, heaviest first (JFR's allocation
     * samples, weighted by the bytes they stand for): which kernel boxes, for a failure that shows in some runs
     * only.
     */
    private static String allocationSites(Runnable inference) {
        Map<String, Long> bytes = new ConcurrentHashMap<>();
        try (RecordingStream rs = new RecordingStream()) {
            rs.enable("jdk.ObjectAllocationSample").withStackTrace();
            rs.onEvent("jdk.ObjectAllocationSample", e -> {
                String site = "(no Skipjack frame)";
                if (e.getStackTrace() != null) {
                    for (RecordedFrame f : e.getStackTrace().getFrames()) {
                        String type = f.getMethod().getType().getName();
                        if (type.startsWith("dev.skipjack.")) {
                            site = type + "." + f.getMethod().getName() + " line " + f.getLineNumber();
                            break;
                        }
                    }
                }
                bytes.merge(site, e.getLong("weight"), Long::sum);
            });
            rs.startAsync();
            long end = System.nanoTime() + 5_000_000_000L;
            while (System.nanoTime() < end) {
                inference.run();
            }
            rs.stop();
        }
        return bytes.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(5)
                .map(e -> e.getKey() + " " + e.getValue() + " B").collect(Collectors.joining("; "));
    }

    /** The calling thread and the pool's workers. */
    private static long[] poolThreadIds() {
        List<Long> ids = new ArrayList<>();
        ids.add(Thread.currentThread().threadId());
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("skipjack-worker-")) {
                ids.add(t.threadId());
            }
        }
        assertTrue(ids.size() >= 2, "the model's worker thread was not found: " + ids);
        return ids.stream().mapToLong(Long::longValue).toArray();
    }

    /** Bytes allocated so far by the threads {@code ids}; one id at a time, so that counting allocates nothing. */
    private static long allocated(com.sun.management.ThreadMXBean threads, long[] ids) {
        long sum = 0;
        for (long id : ids) {
            sum += Math.max(0, threads.getThreadAllocatedBytes(id));
        }
        return sum;
    }
}
