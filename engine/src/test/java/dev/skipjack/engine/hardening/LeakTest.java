package dev.skipjack.engine.hardening;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.ResNet;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Loading and closing a model many times, and running many inferences, leaves native and heap memory where it
 * was: resident set size (/proc/self/status; the leaks execution pre-touches a fixed heap so that RSS moves
 * only with native memory), native memory tracking (the execution runs with
 * {@code -XX:NativeMemoryTracking=summary}; off-heap segments are its "Other"), and heap after GC.
 * Bounds are generous (the allocator and the JIT keep some memory); a leak of one model per cycle (11 MB)
 * would blow through them within a few dozen cycles.
 *
 * <p>{@code -Dskipjack.leak.cycles=N} (default 60) and {@code -Dskipjack.leak.inferences=N} (default 150)
 * scale it for a longer run; the numbers are printed.
 */
class LeakTest {
    @TempDir
    static Path dir;

    /**
     * @param nmtOtherKb   NMT's "Other": what {@code Unsafe.allocateMemory}, and so every {@code Arena.allocate},
     *                     has committed; -1 where NMT is off
     * @param nmtNonHeapKb NMT's committed total less the Java heap's (which GC grows and shrinks at will)
     */
    record Memory(long rssKb, long nmtOtherKb, long nmtNonHeapKb, long heapBytes) {
        @Override
        public String toString() {
            return String.format("RSS %d MB, NMT Other %s, NMT non-heap %s, heap used %d MB", rssKb / 1024,
                    nmtOtherKb < 0 ? "n/a" : nmtOtherKb + " KB", nmtNonHeapKb < 0 ? "n/a" : nmtNonHeapKb / 1024 + " MB",
                    heapBytes >> 20);
        }
    }

    static Memory measure() throws Exception {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        long rss = -1;
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                rss = Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        String nmt = nmtSummary();
        long total = nmtCommittedKb(nmt, "Total: reserved=\\d+KB, committed=(\\d+)KB");
        long javaHeap = nmtCommittedKb(nmt, "Java Heap \\(reserved=\\d+KB, committed=(\\d+)KB");
        long other = nmtCommittedKb(nmt, "Other \\(reserved=\\d+KB, committed=(\\d+)KB");
        return new Memory(rss, other, total < 0 || javaHeap < 0 ? -1 : total - javaHeap, heap);
    }

    /** NMT's summary, or null where NMT is off. */
    static String nmtSummary() {
        try {
            var server = ManagementFactory.getPlatformMBeanServer();
            return server.invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"), "vmNativeMemory",
                    new Object[] {new String[] {"summary", "scale=KB"}}, new String[] {String[].class.getName()})
                    .toString();
        } catch (Exception e) {
            return null;
        }
    }

    private static long nmtCommittedKb(String summary, String regex) {
        if (summary == null) {
            return -1;
        }
        Matcher m = Pattern.compile(regex).matcher(summary);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    @Test
    void loadCloseAndInferenceKeepMemoryFlat() throws Exception {
        int cycles = Integer.getInteger("skipjack.leak.cycles", 60);
        int inferences = Integer.getInteger("skipjack.leak.inferences", 150);
        Path file = TinyModel.write(dir.resolve("tiny.skj"));
        float[] x = TinyModel.input(1, 16, 16, 9);
        float[][] wider = {x, TinyModel.input(1, 16, 17, 9), TinyModel.input(1, 16, 18, 9)};
        // Warm up: JIT, class loading, the allocator's arenas.
        for (int i = 0; i < 15; i++) {
            try (var m = ResNet.load(file, new ResNet.Options(2))) {
                m.predict(x, 1, 16, 16);
            }
        }
        Memory before = measure();
        long start = System.nanoTime();
        for (int i = 0; i < cycles; i++) {
            try (var m = ResNet.load(file, new ResNet.Options(2))) {
                m.predict(wider[i % 3], 1, 16, 16 + i % 3); // a new plan and buffers for some cycles
            }
        }
        Memory afterLoads = measure();
        try (var m = ResNet.load(file, new ResNet.Options(2))) {
            for (int i = 0; i < inferences; i++) {
                m.predict(x, 1, 16, 16);
            }
        }
        Memory after = measure();
        System.out.printf("leaks: %d load/close cycles and %d inferences in %.1f s%n  before: %s%n  after loads: %s%n"
                + "  after inferences: %s%n", cycles, inferences, (System.nanoTime() - start) / 1e9, before,
                afterLoads, after);
        if (Boolean.getBoolean("skipjack.leak.nmtSummary")) {
            System.out.println(nmtSummary());
        }
        // What the models allocated off-heap is all freed: Other returns to where it was, give or take the
        // JDK's own small allocations.
        if (before.nmtOtherKb() >= 0) {
            assertTrue(after.nmtOtherKb() - before.nmtOtherKb() < 16 * 1024, "NMT Other grew: " + before + " -> "
                    + after);
            assertTrue(after.nmtNonHeapKb() - before.nmtNonHeapKb() < 100 * 1024,
                    "NMT non-heap grew: " + before + " -> " + after);
        }
        // RSS moves with the heap unless the heap is fixed and pre-touched (the leaks execution's flags).
        if (ManagementFactory.getRuntimeMXBean().getInputArguments().contains("-XX:+AlwaysPreTouch")) {
            assertTrue(after.rssKb() - before.rssKb() < 200 * 1024, "RSS grew: " + before + " -> " + after);
        }
        assertTrue(after.heapBytes() - before.heapBytes() < 64 << 20, "heap grew: " + before + " -> " + after);
    }
}
