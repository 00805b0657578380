package dev.skipjack.gpu.tornadovm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.ResNet;
import dev.skipjack.engine.backend.DispatchProfile;
import dev.skipjack.engine.testing.FixtureModels;
import dev.skipjack.engine.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End-to-end fidelity on the device: ResNet-18 and ResNet-50 with every layer on TornadoVM (and ResNet-18
 * split between the CPU and the device) against PyTorch's float64 logits, with the engine's bar: max |logit -
 * f64 logit| at most twice PyTorch float32's own. Needs TornadoVM and the fixtures (-Dskipjack.fixtures).
 */
class TornadoVmReferenceTest {
    private static final int THREADS = 2;

    /** Max |ours - f64| and the bar for one fixture input, checking the top class too. */
    private static void check(ResNet model, String fixture, String size, int h, int w) throws IOException {
        String dir = fixture + "/";
        float[] input = Fixtures.readF32(Fixtures.file(dir + "input_" + size + ".f32"));
        float[] f32 = Fixtures.readF32(Fixtures.file(dir + "logits_" + size + ".f32"));
        double[] f64 = Fixtures.readF64(Fixtures.file(dir + "logits_" + size + ".f64"));
        int n = 4;
        long t0 = System.nanoTime();
        float[] ours = model.predict(input, n, h, w);
        double seconds = (System.nanoTime() - t0) * 1e-9;
        assertEquals(f64.length, ours.length);
        double torch = 0, err = 0;
        for (int i = 0; i < ours.length; i++) {
            torch = Math.max(torch, Math.abs(f32[i] - f64[i]));
            err = Math.max(err, Math.abs(ours[i] - f64[i]));
        }
        int classes = ours.length / n;
        for (int img = 0; img < n; img++) {
            assertEquals(argmax(f64, img, classes), argmax(ours, img, classes), fixture + " " + size + " image " + img
                    + ": top class");
        }
        System.out.printf("%-9s %-8s batch %d on %s: max |skipjack - f64| = %.3g, max |pytorch f32 - f64| = %.3g, "
                + "ratio %.2f (bar 2.00), predict %.1f s%n", fixture, size, n, model.dispatchNotice() == null
                ? "the plan above" : "the CPU", err, torch, err / torch, seconds);
        assertTrue(err <= 2 * torch, fixture + " " + size + ": max |skipjack - f64| = " + err
                + " exceeds 2 x PyTorch f32's error " + torch);
    }

    private static int argmax(float[] a, int row, int c) {
        int best = 0;
        for (int i = 1; i < c; i++) {
            best = a[row * c + i] > a[row * c + best] ? i : best;
        }
        return best;
    }

    private static int argmax(double[] a, int row, int c) {
        int best = 0;
        for (int i = 1; i < c; i++) {
            best = a[row * c + i] > a[row * c + best] ? i : best;
        }
        return best;
    }

    private static ResNet load(String fixture, DispatchProfile profile) throws IOException {
        long t0 = System.nanoTime();
        ResNet m = ResNet.load(FixtureModels.modelFile(fixture), new ResNet.Options(THREADS).withProfile(profile));
        assertNull(m.dispatchNotice(), "TornadoVM must be usable in this test JVM");
        System.out.printf("%s with profile %s loaded in %.1f s%n", fixture, profile.name(), (System.nanoTime() - t0) * 1e-9);
        System.out.print(m.dispatchPlan());
        return m;
    }

    private static void allOnTheDevice(String fixture) throws IOException {
        try (ResNet m = load(fixture, DispatchProfile.gpu())) {
            String plan = m.dispatchPlan();
            long layers = plan.lines().filter(l -> l.contains(" profile gpu")).count();
            assertTrue(plan.contains(layers + " of " + layers + " layers on tornadovm"), plan);
            // The larger size first: the smaller then reuses the compiled graph and its buffers.
            check(m, fixture, "197x263", 197, 263);
            check(m, fixture, "224", 224, 224);
        }
    }

    @Test
    void resnet18OnTheDevice() throws IOException {
        allOnTheDevice("resnet18");
    }

    @Test
    void resnet50OnTheDevice() throws IOException {
        allOnTheDevice("resnet50");
    }

    /**
     * Layers alternate between the CPU and the device, so values cross at the edges of every run (including a
     * block's identity produced on one side and added on the other).
     */
    @Test
    void resnet18SplitBetweenCpuAndDevice(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("split.profile");
        Files.writeString(f, """
                *                = gpu
                maxpool          = cpu
                layer2.*         = cpu
                layer3.0.conv2   = cpu
                layer4.1.conv1   = cpu
                fc               = cpu
                """);
        try (ResNet m = load("resnet18", DispatchProfile.of(f.toString()))) {
            String plan = m.dispatchPlan();
            assertTrue(plan.contains("14 of 23 layers on tornadovm"), plan);
            check(m, "resnet18", "224", 224, 224);
        }
    }

    /** The auto profile times every layer on both backends at load and prints its choice. */
    @Test
    void resnet18Auto() throws IOException {
        try (ResNet m = load("resnet18", DispatchProfile.auto())) {
            String plan = m.dispatchPlan();
            assertTrue(plan.contains("cpu ms") && plan.contains("gpu ms"), plan);
            long timed = plan.lines().filter(l -> l.contains(" was faster")).count();
            assertEquals(23, timed, plan);
            check(m, "resnet18", "224", 224, 224);
        }
    }
}
