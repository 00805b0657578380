package dev.skipjack.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class JitActivityTest {
    @Test
    void countsTheCompilerThreadsWorkOnLinux() {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/task")), "Linux's /proc only");
        JitActivity jit = JitActivity.probe();
        assertTrue(jit.available());
        long before = jit.nanos();
        // By now (the JVM started, JUnit loaded) the JIT has compiled for well over one 10 ms clock tick.
        assertTrue(before >= jit.resolutionNanos(), "compiler threads' time so far: " + before + " ns");
        // a running total
        double sink = 0;
        for (int i = 0; i < 200_000; i++) {
            sink += Math.sqrt(i) * (i & 7);
        }
        long after = jit.nanos();
        assertTrue(after >= before, before + " then " + after + " (" + sink + ")");
    }
}
