package dev.skipjack.engine.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.ResNet;
import dev.skipjack.engine.testing.FixtureModels;
import dev.skipjack.engine.testing.Fixtures;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * End-to-end fidelity of one fixture model against PyTorch. The bar is the issue's: Skipjack's max |logit -
 * float64 logit| at most twice PyTorch float32's own max |float32 logit - float64 logit| on the same inputs
 * (deep networks amplify rounding, so the tolerance comes from the model itself, not a constant), and the
 * top-5 classes agree wherever the float64 reference separates them by more than the tolerance.
 * Subclasses name the model; the model is loaded once per class.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class ReferenceModelTest {
    /** The fixture directory name. */
    abstract String model();

    protected ResNet net;

    @BeforeAll
    void load() throws IOException {
        net = ResNet.load(FixtureModels.modelFile(model()));
    }

    @AfterAll
    void close() {
        if (net != null) {
            net.close();
        }
    }

    /** Reference data of one input size: inputs [4][3][h][w], PyTorch f32 and f64 logits [4][classes]. */
    record Reference(String size, int h, int w, float[] input, float[] f32, double[] f64, double tolerance) {
        int images() {
            return f64.length / classes();
        }

        int classes() {
            return f32.length / 4;
        }
    }

    Reference reference(String size, int h, int w) throws IOException {
        String dir = model() + "/";
        float[] input = Fixtures.readF32(Fixtures.file(dir + "input_" + size + ".f32"));
        float[] f32 = Fixtures.readF32(Fixtures.file(dir + "logits_" + size + ".f32"));
        double[] f64 = Fixtures.readF64(Fixtures.file(dir + "logits_" + size + ".f64"));
        assertEquals(4L * 3 * h * w, input.length, "input size of " + dir + size);
        assertEquals(f32.length, f64.length);
        double torchError = 0;
        for (int i = 0; i < f32.length; i++) {
            torchError = Math.max(torchError, Math.abs(f32[i] - f64[i]));
        }
        return new Reference(size, h, w, input, f32, f64, 2 * torchError);
    }

    /** Max |ours - f64| over images [first, first + n) of the reference. */
    static double maxError(float[] ours, Reference r, int first) {
        int c = r.classes();
        double m = 0;
        for (int i = 0; i < ours.length; i++) {
            m = Math.max(m, Math.abs(ours[i] - r.f64()[first * c + i]));
        }
        return m;
    }

    void check(Reference r, int batch) {
        int c = r.classes();
        int per = 3 * r.h() * r.w();
        double worst = 0;
        // Batch 1 runs the first and the last image only: it checks batch independence at half the cost.
        for (int first = 0; first < 4; first += batch == 1 ? 3 : batch) {
            float[] in = Arrays.copyOfRange(r.input(), first * per, (first + batch) * per);
            float[] ours = net.predict(in, batch, r.h(), r.w());
            assertEquals(batch * c, ours.length);
            worst = Math.max(worst, maxError(ours, r, first));
            for (int i = 0; i < batch; i++) {
                checkTop5(ours, i, r, first + i);
            }
        }
        System.out.printf("%-16s %-8s batch %d: max |skipjack - f64| = %.3g, max |pytorch f32 - f64| = %.3g, "
                + "ratio %.2f (bar 2.00)%n", model(), r.size(), batch, worst, r.tolerance() / 2,
                worst / (r.tolerance() / 2));
        assertTrue(worst <= r.tolerance(), model() + " " + r.size() + " batch " + batch + ": max |skipjack - f64| = "
                + worst + " exceeds 2 x PyTorch f32's error = " + r.tolerance());
    }

    /**
     * For every k in 1..5 where the f64 logits of the k-th and (k+1)-th classes differ by more than twice the
     * tolerance (so no two errors within the tolerance can swap them), our top-k set equals the reference's.
     */
    static void checkTop5(float[] ours, int row, Reference r, int refRow) {
        int c = r.classes();
        Integer[] refOrder = order(i -> r.f64()[refRow * c + i], c);
        Integer[] ourOrder = order(i -> ours[row * c + i], c);
        int k = Math.min(5, c - 1);
        Set<Integer> a = new HashSet<>();
        Set<Integer> b = new HashSet<>();
        for (int j = 0; j < k; j++) {
            a.add(refOrder[j]);
            b.add(ourOrder[j]);
            double gap = r.f64()[refRow * c + refOrder[j]] - r.f64()[refRow * c + refOrder[j + 1]];
            if (gap > 2 * r.tolerance()) {
                assertEquals(a, b, "top-" + (j + 1) + " classes of image " + refRow + " (" + r.size() + ")");
            }
        }
    }

    private static Integer[] order(java.util.function.IntToDoubleFunction v, int c) {
        Integer[] idx = new Integer[c];
        for (int i = 0; i < c; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (x, y) -> Double.compare(v.applyAsDouble(y), v.applyAsDouble(x)));
        return idx;
    }

    @Test
    void batch4At224() throws IOException {
        check(reference("224", 224, 224), 4);
    }

    @Test
    void batch1At224() throws IOException {
        check(reference("224", 224, 224), 1);
    }

    @Test
    void batch4At197x263() throws IOException {
        check(reference("197x263", 197, 263), 4);
    }

    @Test
    void batch1At197x263() throws IOException {
        check(reference("197x263", 197, 263), 1);
    }
}
