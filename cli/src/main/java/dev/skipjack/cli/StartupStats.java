package dev.skipjack.cli;

import dev.skipjack.engine.ResNet;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

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
    /** The process's age when {@code main} began, in seconds, or NaN where /proc cannot tell. */
    private static final double AGE_AT_MAIN = processAgeSeconds();

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
        double age = processAgeSeconds() - seconds(Duration.between(firstLogits, Instant.now()));
        var b = new StringBuilder("skipjack stats: ");
        if (!Double.isNaN(age) && !Double.isNaN(AGE_AT_MAIN)) {
            b.append(String.format(Locale.ROOT, "process start to first logits %.2f s: process start (launcher, "
                    + "JVM) to main %.2f s, ", age, AGE_AT_MAIN));
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

    /**
     * Seconds since this process started, from /proc/uptime and the start time in /proc/self/stat, both counted
     * from boot (10 ms resolution). Not {@link ProcessHandle.Info#startInstant()}: it adds the boot time, which
     * Linux gives in whole seconds, so its error reaches a second. NaN where /proc is missing (not Linux).
     */
    static double processAgeSeconds() {
        try {
            double uptime = Double.parseDouble(Files.readString(Path.of("/proc/uptime")).trim().split("\\s+")[0]);
            String stat = Files.readString(Path.of("/proc/self/stat"));
            // Fields after the command name (which may hold spaces, so find its closing parenthesis): state is
            // field 3, starttime (clock ticks since boot; USER_HZ is 100 on Linux) is field 22.
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return uptime - Long.parseLong(f[22 - 3]) / 100.0;
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
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
