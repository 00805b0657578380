package dev.skipjack.bench;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The CPU time of this process's threads, from Linux's {@code /proc/self/task/<tid>/schedstat} (its first field:
 * nanoseconds spent on a CPU). For {@link Harness}, which waits until threads other than its own are idle.
 */
final class ThreadCpu {
    private static final Path TASKS = Path.of("/proc/self/task");

    private ThreadCpu() {
    }

    /**
     * The summed CPU nanoseconds of every thread of this process but the calling one (threads that exit are
     * no longer counted), or -1 where {@code /proc} does not tell (not Linux, or no schedstat).
     */
    static long othersNanos() {
        String self;
        try {
            self = Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString();
        } catch (IOException | UnsupportedOperationException e) {
            return -1;
        }
        long sum = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(TASKS)) {
            for (Path task : tasks) {
                if (task.getFileName().toString().equals(self)) {
                    continue;
                }
                try {
                    String line = Files.readString(task.resolve("schedstat"));
                    sum += Long.parseLong(line.substring(0, line.indexOf(' ')));
                } catch (IOException | RuntimeException e) {
                    // the thread exited meanwhile, or no schedstat: not counted
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return sum;
    }
}
