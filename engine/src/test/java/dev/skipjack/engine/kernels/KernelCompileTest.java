package dev.skipjack.engine.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every register-tile micro-kernel must compile in C1 as well, an on-stack replacement (OSR) included. C1 never
 * intrinsifies the Vector API, so its code is slow anyway; but a kernel whose C1 compile fails ("COMPILE SKIPPED:
 * out of virtual registers in linear scan") after the JIT gave it tier-2 code (as it does while C2 is busy, in a
 * warm-up) stayed in that code for the rest of the process: ResNet-50 35 times slower in 1 of 7 runs of a
 * variant of the 6x4 kernel with one more load a step. Checked in a JVM of its own that stops at tier 3
 * ({@code -XX:TieredStopAtLevel=3}), each kernel once with a depth loop long enough for an OSR compile and then in
 * short calls for a normal one; its JIT log ({@code -XX:+PrintCompilation}) must show no skipped compile of a
 * kernel and an OSR compile of each.
 */
class KernelCompileTest {
    /** The kernels the child runs, as they appear in the JIT log. */
    private static final List<String> KERNELS = List.of("ConvNhwc::kernel6x4 ", "ConvNhwc::kernel6x4Ahead ",
            "ConvNhwc::kernel7x2 ", "ConvNhwc::kernel6x2 ", "ConvNhwc::kernel1x4 ", "Gemm::kernel4x2 ",
            "Gemm::kernel8x2 ");

    @TempDir
    Path dir;

    /** The child: each kernel once over {@code LONG} depth steps, then {@code SHORT} calls of 8. */
    public static final class Child {
        // 150,000 loop trips a kernel (kernel1x4 runs two steps a trip: twice the steps), 2.5 times the back-edge
        // count of a tier-3 OSR compile (Tier3BackEdgeThreshold), which the JIT raises while C1's queue is long
        static final int LONG = 150_000, SHORT = 3_000;

        public static void main(String[] args) {
            try (Arena arena = Arena.ofConfined()) {
                long step = 4 * Gemm.VB; // the widest kernels read four vectors of weights a depth step
                MemorySegment a = arena.allocate(4L * 8 * (LONG + 8), 64);
                MemorySegment w = arena.allocate(2 * step * (LONG + 8), 64);
                MemorySegment c = arena.allocate(8 * 4 * Gemm.VB + 64, 64);
                long r = 4L * (LONG + 8); // a row of a for the row-offset kernels
                long ldc = 4 * Gemm.VB;
                for (int kc : new int[] {LONG, 8}) {
                    for (int i = 0; i < (kc == LONG ? 1 : SHORT); i++) {
                        ConvNhwc.kernel6x4(a, 0, r, 2 * r, 3 * r, 4 * r, 5 * r, kc, w, 0, c, 0, ldc);
                        ConvNhwc.kernel6x4Ahead(a, 0, r, 2 * r, 3 * r, 4 * r, 5 * r, kc, w, 0, c, 0, ldc, step * kc);
                        ConvNhwc.kernel7x2(a, 0, r, 2 * r, 3 * r, 4 * r, 5 * r, 6 * r, kc, w, 0, c, 0, ldc);
                        ConvNhwc.kernel6x2(a, 0, r, 2 * r, 3 * r, 4 * r, 5 * r, kc, w, 0, c, 0, ldc);
                        ConvNhwc.kernel1x4(a, 0, kc == LONG ? 2 * kc : kc, w, 0, c, 0);
                        Gemm.kernel4x2(a, 0, w, 0, 2 * Gemm.VB, kc, c, 0, ldc);
                        Gemm.kernel8x2(a, 0, w, 0, 2 * Gemm.VB, kc, c, 0, ldc);
                    }
                }
            }
            System.out.println("DONE");
        }
    }

    @Test
    void everyMicroKernelCompilesInC1IncludingOnStackReplacement() throws IOException, InterruptedException {
        List<String> log = runChild();
        // (a compile skipped for concurrent class loading is retried by the JIT: not a failure)
        List<String> skipped = log.stream().filter(l -> l.contains("COMPILE SKIPPED")
                && l.contains("dev.skipjack.engine.kernels") && !l.contains("concurrent class loading")).toList();
        assertTrue(skipped.isEmpty(), "C1 failed to compile kernels:\n" + String.join("\n", skipped));
        for (String kernel : KERNELS) {
            assertTrue(log.stream().anyMatch(l -> l.contains(kernel) && l.contains(" % ")),
                    "no OSR compile of " + kernel.trim() + " in the child's JIT log");
        }
    }

    private List<String> runChild() throws IOException, InterruptedException {
        Path log = dir.resolve("child.log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=3",
                "-XX:+PrintCompilation"));
        String species = System.getProperty("skipjack.vector.species");
        if (species != null) {
            cmd.add("-Dskipjack.vector.species=" + species); // the surefire execution's vector width
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Child.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "child JVM did not finish in 300 s");
        List<String> lines = Files.readAllLines(log);
        assertEquals(0, p.exitValue(), "child JVM failed:\n" + String.join("\n", lines.subList(
                Math.max(0, lines.size() - 40), lines.size())));
        assertTrue(lines.contains("DONE"), "child output lacks its end marker");
        return lines;
    }
}
