package dev.skipjack.engine.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.ResNet;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The first segment over a Java array in a process ({@code MemorySegment.ofArray}, {@code toArray}, ...), or the
 * first mapped file, must not throw away the compiled kernels of a loaded model: C2 compiles segment accesses
 * assuming only the kinds of segment that exist when it compiles, and when an array segment appeared after the
 * warm-up every kernel was deoptimized at once (ResNet-18's next call 0.8-2 s instead of ~20 ms, the 15 after it
 * 2-4 times as slow). The kernels load those classes first ({@code Simd.preloadHeapSegmentClasses}, when the
 * first kernel class initializes). Checked in a JVM of its own, whose JIT log ({@code -XX:+PrintCompilation})
 * must show no kernel "marked for deoptimization" after the array segment is made: this test JVM has made array
 * segments long before.
 */
class ArraySegmentDeoptTest {
    @TempDir
    Path dir;

    /** The child: a warm model, then the process's first array segment, then inferences. */
    public static final class Child {
        public static void main(String[] args) {
            try (ResNet model = ResNet.seeded("resnet18", 1, new ResNet.Options(2)); Arena arena = Arena.ofConfined()) {
                MemorySegment in = arena.allocate(4L * 3 * 224 * 224, 64);
                MemorySegment out = arena.allocate(4L * model.numClasses(), 64);
                for (int i = 0; i < 10; i++) {
                    model.predict(in, out, 1, 224, 224);
                }
                System.out.println("ARRAY-SEGMENT-NEXT");
                System.out.flush();
                MemorySegment.ofArray(new float[16]);
                // and the first mapped file: the seeded model mapped none
                try (FileChannel ch = FileChannel.open(Path.of(args[0]))) {
                    ch.map(FileChannel.MapMode.READ_ONLY, 0, 1, arena);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                for (int i = 0; i < 5; i++) {
                    model.predict(in, out, 1, 224, 224);
                }
                System.out.println("DONE");
            }
        }
    }

    /**
     * Fails when two child JVMs in a row show kernels deoptimized: without the warm-up's class loading every run
     * does (35 and 36 methods in the two runs of a check), while one run of some thirty with it failed here once,
     * for reasons of the JVM's own that a second run does not repeat.
     */
    @Test
    void kernelsStayCompiledWhenTheFirstArraySegmentAppears() throws Exception {
        List<String> deopts = kernelDeopts(runChild(List.of()));
        if (!deopts.isEmpty()) {
            List<String> again = kernelDeopts(runChild(List.of()));
            assertTrue(again.isEmpty(), deopts.size() + " and then " + again.size()
                    + " kernel methods deoptimized by the first array segment or mapped file, e.g.\n"
                    + String.join("\n", again.subList(0, Math.min(5, again.size()))));
        }
    }

    private static List<String> kernelDeopts(List<String> jitLog) {
        return jitLog.stream().filter(l -> l.contains("marked for deoptimization")
                && l.contains("dev.skipjack.engine.kernels")).toList();
    }

    /** The JIT log lines the child printed after its marker; fails unless it got there and finished. */
    private List<String> runChild(List<String> extraJvmArgs) throws IOException, InterruptedException {
        Path log = dir.resolve("child.log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-XX:+UseSerialGC", "-XX:+PrintCompilation"));
        String species = System.getProperty("skipjack.vector.species");
        if (species != null) {
            cmd.add("-Dskipjack.vector.species=" + species); // the surefire execution's vector width
        }
        cmd.addAll(extraJvmArgs);
        Path mapped = Files.write(dir.resolve("one-byte"), new byte[] {1});
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Child.class.getName(), mapped.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish in 120 s");
        List<String> lines = Files.readAllLines(log);
        assertEquals(0, p.exitValue(), "child JVM failed:\n" + String.join("\n", lines.subList(
                Math.max(0, lines.size() - 40), lines.size())));
        int mark = lines.indexOf("ARRAY-SEGMENT-NEXT");
        assertTrue(mark >= 0 && lines.contains("DONE"), "child output lacks its markers");
        return lines.subList(mark + 1, lines.size());
    }
}
