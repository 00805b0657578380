package dev.skipjack.engine.runtime;

import java.io.IOException;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * How much work the JIT has done so far, to tell when it has gone quiet: what a warm-up waits for.
 *
 * <p>On Linux, the CPU time of the JVM's compiler threads (HotSpot names them "C1 CompilerThread..." and "C2
 * CompilerThread...", {@code /proc/self/task/TID/comm} shows the first 15 characters), read from
 * {@code /proc/self/task/TID/stat}: it grows while a compilation runs. Elsewhere, the
 * {@link CompilationMXBean}'s total compilation time, which grows only when a compilation ends, so that a long
 * one under way looks quiet. Why it matters: on a 2-core machine, C2 compiling a large kernel for half a second
 * between two warm-up passes that otherwise agree.
 */
public final class JitActivity {
    private static final Path TASKS = Path.of("/proc/self/task");
    /** Linux's USER_HZ, the unit of the stat file's times: 100 on every architecture the JDK runs on. */
    private static final long NANOS_PER_TICK = 10_000_000L;
    /**
     * Most threads in the process for which {@link #nanos} reads /proc: it reads the name of every thread it lists
     * (and the times of the compiler threads); with thousands (an application server) a reading would cost
     * milliseconds, and the bean serves.
     */
    private static final int MAX_THREADS_SCANNED = 256;

    private final boolean proc;
    private final CompilationMXBean bean;

    private JitActivity(boolean proc, CompilationMXBean bean) {
        this.proc = proc;
        this.bean = bean;
    }

    /** The best source this JVM and OS offer; {@link #available} false where there is none. */
    public static JitActivity probe() {
        boolean proc = Files.isDirectory(TASKS) && threads() <= MAX_THREADS_SCANNED && compilerNanosFromProc() >= 0;
        CompilationMXBean bean = ManagementFactory.getCompilationMXBean();
        if (bean != null && !bean.isCompilationTimeMonitoringSupported()) {
            bean = null;
        }
        return new JitActivity(proc, bean);
    }

    /** The process's threads, as /proc lists them (counted up to one past {@link #MAX_THREADS_SCANNED}). */
    private static long threads() {
        try (Stream<Path> tasks = Files.list(TASKS)) {
            return tasks.limit(MAX_THREADS_SCANNED + 1).count();
        } catch (IOException | RuntimeException e) {
            return Long.MAX_VALUE;
        }
    }

    /** Whether {@link #nanos} measures anything. */
    public boolean available() {
        return proc || bean != null;
    }

    /** The resolution of {@link #nanos}: 10 ms (Linux's clock ticks, or the bean's milliseconds rounded up). */
    public long resolutionNanos() {
        return NANOS_PER_TICK;
    }

    /** The JIT's work so far in nanoseconds, a running total (see the class comment); 0 where unavailable. */
    public long nanos() {
        if (proc) {
            long n = compilerNanosFromProc();
            if (n >= 0) {
                return n;
            }
        }
        return bean != null ? bean.getTotalCompilationTime() * 1_000_000L : 0;
    }

    /**
     * The summed user and system time of the threads named like compiler threads; -1 if /proc cannot be read or
     * shows none (another JVM's names).
     */
    private static long compilerNanosFromProc() {
        long ticks = 0;
        int threads = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(TASKS)) {
            for (Path task : tasks) {
                String comm;
                String stat;
                try {
                    comm = Files.readString(task.resolve("comm"));
                    if (!comm.contains("CompilerThre")) {
                        continue;
                    }
                    stat = Files.readString(task.resolve("stat"));
                } catch (IOException e) {
                    continue; // the thread ended (the JVM stops idle compiler threads)
                }
                // after "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                threads++;
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return threads > 0 ? ticks * NANOS_PER_TICK : -1;
    }
}
