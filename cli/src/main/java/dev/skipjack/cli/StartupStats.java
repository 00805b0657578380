package dev.skipjack.cli;

import dev.skipjack.engine.ResNet;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;

/**
 * {@code --stats} of {@code classify} and {@code run}: where the time from process start to the first logits
 * went, and how much memory the model holds, as two lines on stderr. The numbers behind bench/README.md's
 * "Startup" and "Memory" sections.
 */
final class StartupStats {
    /** The usage line. */
    static final String HELP = "  --stats           print on stderr the time from process start to the first logits "
            + "(JVM start, load with\n                    its kernel warm-up, first inference) and the model's "
            + "memory (bench/README.md)";

    private static final double MB = 1e6;

    /** When {@code main} began: the JVM's own start-up (and the launcher's) is what came before it. */
    private static final Instant MAIN_STARTED = Instant.now();

    private StartupStats() {}

    /** Touches this class so that {@link #MAIN_STARTED} is taken now (call first thing in {@code main}). */
    static void mainStarted() {
        // The static initializer did the work.
    }

    /**
     * Prints the two lines.
     *
     * @param firstCall      what the first call did, e.g. "first inference" or "first classify (decode + inference)"
     * @param firstCallNanos how long it took
     * @param secondNanos    how long the same call took again, or -1 if it was not repeated
     * @param firstLogits    when the first logits were there
     * @param n              the batch of the first call; {@code h}, {@code w} its input size
     */
    static void print(PrintStream err, ResNet model, String firstCall, long firstCallNanos, long secondNanos,
            Instant firstLogits, int n, int h, int w) {
        ResNet.LoadTimes t = model.loadTimes();
        Optional<Instant> processStart = ProcessHandle.current().info().startInstant();
        var b = new StringBuilder("skipjack stats: ");
        if (processStart.isPresent()) {
            b.append(String.format(Locale.ROOT, "process start to first logits %.2f s: JVM start to main %.2f s, ",
                    seconds(Duration.between(processStart.get(), firstLogits)),
                    seconds(Duration.between(processStart.get(), MAIN_STARTED))));
        } else {
            b.append(String.format(Locale.ROOT, "main to first logits %.2f s: ",
                    seconds(Duration.between(MAIN_STARTED, firstLogits))));
        }
        b.append(String.format(Locale.ROOT,
                "load %.2f s (read %.2f, fold + pack %.2f, kernel warm-up %.2f), %s %.3f s", t.totalNanos() * 1e-9,
                t.readNanos() * 1e-9, t.prepareNanos() * 1e-9, t.warmUpNanos() * 1e-9, firstCall,
                firstCallNanos * 1e-9));
        if (secondNanos >= 0) {
            b.append(String.format(Locale.ROOT, " (the same again: %.3f s)", secondNanos * 1e-9));
        }
        err.println(b);

        ResNet.MemoryUse m = model.memoryUse(n, h, w);
        long over = m.totalBytes() - m.weightBytes();
        var c = new StringBuilder(String.format(Locale.ROOT,
                "skipjack stats: engine memory %.1f MB = packed weights %.1f MB + plan [%d][3][%d][%d] %.1f MB "
                        + "(weights %.1f MB %s %.1f MB)",
                m.totalBytes() / MB, m.packedBytes() / MB, n, h, w, m.planBytes() / MB, m.weightBytes() / MB,
                over >= 0 ? "+" : "-", Math.abs(over) / MB));
        String process = processMemory();
        if (process != null) {
            c.append("; process ").append(process);
        }
        err.println(c);
    }

    private static double seconds(Duration d) {
        return d.toNanos() * 1e-9;
    }

    /** Peak and current resident memory from /proc (Linux), or null elsewhere. */
    private static String processMemory() {
        try {
            long peak = -1, anon = -1, file = -1;
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    peak = kib(line);
                } else if (line.startsWith("RssAnon:")) {
                    anon = kib(line);
                } else if (line.startsWith("RssFile:")) {
                    file = kib(line);
                }
            }
            if (peak < 0) {
                return null;
            }
            return String.format(Locale.ROOT, "peak RSS %.0f MB (now anonymous %.0f MB, file-backed %.0f MB)",
                    peak * 1024 / MB, anon * 1024 / MB, file * 1024 / MB);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static long kib(String statusLine) {
        String[] parts = statusLine.trim().split("\\s+");
        return Long.parseLong(parts[1]);
    }
}
