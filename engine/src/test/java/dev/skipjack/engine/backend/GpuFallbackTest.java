package dev.skipjack.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.ResNet;
import dev.skipjack.engine.testing.FixtureModels;
import dev.skipjack.engine.testing.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * In the default build (no TornadoVM module on the class path), asking for the GPU must cost nothing but one
 * line: every layer runs on the CPU, through the same kernels, with the logits of the {@code cpu} profile.
 *
 * <p>The logits are compared after one warm-up inference per model, to within a few float32 ulps rather than
 * bit for bit: the CPU kernels' results move in the last bits while the JIT compiles them (the Vector API's
 * lane reductions add in another order once intrinsified), so even one model run twice is not bit-identical
 * across its first inference.
 */
class GpuFallbackTest {
    private static final String NO_BACKEND = "no accelerator backend is on the class path (build the "
            + "skipjack-gpu-tornadovm module with mvn -Ptornadovm; see docs/GPU.md)";

    /** Loads with {@code profile}, returning the model and what it printed on stderr while loading. */
    private record Loaded(ResNet model, String stderr) {}

    private static Loaded load(Path file, DispatchProfile profile) throws Exception {
        PrintStream old = System.err;
        var bytes = new ByteArrayOutputStream();
        System.setErr(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            ResNet m = ResNet.load(file, new ResNet.Options(2).withProfile(profile));
            return new Loaded(m, bytes.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(old);
        }
    }

    private static void sameLogitsWithOneLine(DispatchProfile profile, String expectedLine) throws Exception {
        Path file = FixtureModels.modelFile("tiny_bottleneck");
        float[] input = Fixtures.readF32(Fixtures.file("tiny_bottleneck/input_224.f32"));
        double[] f64 = Fixtures.readF64(Fixtures.file("tiny_bottleneck/logits_224.f64"));
        float[] f32 = Fixtures.readF32(Fixtures.file("tiny_bottleneck/logits_224.f32"));
        double torch = 0;
        for (int i = 0; i < f32.length; i++) {
            torch = Math.max(torch, Math.abs(f32[i] - f64[i]));
        }
        Loaded cpu = load(file, DispatchProfile.cpu());
        Loaded other = load(file, profile);
        try {
            assertEquals("", cpu.stderr(), "the cpu profile prints nothing");
            assertNull(cpu.model().dispatchNotice());
            assertEquals(expectedLine + System.lineSeparator(), other.stderr(), "exactly one line on stderr");
            assertEquals(expectedLine, other.model().dispatchNotice());
            String plan = other.model().dispatchPlan();
            assertTrue(plan.contains("0 of "), plan);
            assertTrue(plan.lines().filter(l -> l.contains("layer1.0.conv2")).allMatch(l -> l.contains(" cpu ")), plan);
            cpu.model().predict(input, 4, 224, 224);
            other.model().predict(input, 4, 224, 224);
            float[] a = cpu.model().predict(input, 4, 224, 224);
            float[] b = other.model().predict(input, 4, 224, 224);
            double diff = 0, err = 0;
            for (int i = 0; i < a.length; i++) {
                diff = Math.max(diff, Math.abs(a[i] - b[i]));
                err = Math.max(err, Math.abs(b[i] - f64[i]));
            }
            assertTrue(diff <= 1e-6, "the fallback's logits differ from the cpu profile's by " + diff);
            System.out.printf("max |fallback - cpu profile| = %.3g, max |fallback - f64| = %.3g (bar %.3g)%n", diff,
                    err, 2 * torch);
            assertTrue(err <= 2 * torch, "the fallback's logits are " + err + " from PyTorch's float64 ones, more "
                    + "than twice PyTorch float32's " + torch);
            System.out.println(expectedLine);
            System.out.print(plan.lines().limit(4).map(l -> l + "\n").reduce("", String::concat));
        } finally {
            cpu.model().close();
            other.model().close();
        }
    }

    @Test
    void gpuProfileFallsBackToTheCpuWithOneLine() throws Exception {
        sameLogitsWithOneLine(DispatchProfile.gpu(),
                "skipjack: profile gpu: " + NO_BACKEND + "; every layer runs on the CPU");
    }

    @Test
    void autoProfileFallsBackToo() throws Exception {
        sameLogitsWithOneLine(DispatchProfile.auto(),
                "skipjack: profile auto: " + NO_BACKEND + "; every layer runs on the CPU");
    }

    @Test
    void profileFilePinningLayersFallsBackToo(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("pin.profile");
        Files.writeString(f, "layer3.* = gpu\nlayer4.* = gpu\n");
        sameLogitsWithOneLine(DispatchProfile.of(f.toString()),
                "skipjack: profile file " + f + ": " + NO_BACKEND + "; the 8 layers it sends to gpu/auto run on the CPU");
    }
}
