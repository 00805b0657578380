package dev.skipjack.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.testing.FixtureModels;
import dev.skipjack.engine.testing.Fixtures;
import dev.skipjack.format.ModelFile;
import dev.skipjack.format.ModelFileWriter;
import dev.skipjack.format.ModelFormatException;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.Metadata;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** The public API on the tiny_basic fixture (10 classes): lifecycle, concurrency, validation, helpers. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ResNetTest {
    private ResNet model;
    private float[] input224;
    private float[] input197;

    @TempDir
    Path tmp;

    @BeforeAll
    void load() throws IOException {
        model = ResNet.load(FixtureModels.modelFile("tiny_basic"), new ResNet.Options(2));
        input224 = Fixtures.readF32(Fixtures.file("tiny_basic/input_224.f32"));
        input197 = Fixtures.readF32(Fixtures.file("tiny_basic/input_197x263.f32"));
    }

    @AfterAll
    void close() {
        model.close();
    }

    private static float[] image(float[] batch, int i, int h, int w) {
        int per = 3 * h * w;
        return Arrays.copyOfRange(batch, i * per, (i + 1) * per);
    }

    @Test
    void describesItself() {
        assertEquals(10, model.numClasses());
        assertEquals("tiny_basic", model.architecture().getName());
        assertEquals(List.of("class 0", "class 1"), model.labels().subList(0, 2));
        assertEquals(2, model.threads());
        assertEquals(224, model.preprocessing().crop());
    }

    /** Several threads predicting at once, on two shapes, give bit-identical results to one thread alone. */
    @Test
    void concurrentPredictsAreIdenticalToSequentialOnes() throws Exception {
        float[][] inputs = new float[8][];
        int[][] shapes = new int[8][];
        float[][] expected = new float[8][];
        for (int i = 0; i < 8; i++) {
            boolean odd = i % 2 == 1;
            shapes[i] = odd ? new int[] {197, 263} : new int[] {224, 224};
            inputs[i] = image(odd ? input197 : input224, i / 2, shapes[i][0], shapes[i][1]);
            expected[i] = model.predict(inputs[i], 1, shapes[i][0], shapes[i][1]);
        }
        // Repeating them on one thread must already be bit-exact; if not, the difference is not concurrency
        // (seen with phase-1 kernels: results change once C2 replaces C1 code, e.g. an unordered lane reduction).
        for (int i = 0; i < 8; i++) {
            assertArrayEquals(expected[i], model.predict(inputs[i], 1, shapes[i][0], shapes[i][1]),
                    "the same input run twice on one thread gives different logits: the kernels are not "
                            + "deterministic (input " + i + ")");
        }
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            var futures = new ArrayList<Future<float[]>>();
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 8; i++) {
                    int k = i;
                    futures.add(pool.submit(() -> model.predict(inputs[k], 1, shapes[k][0], shapes[k][1])));
                }
            }
            for (int f = 0; f < futures.size(); f++) {
                float[] got = futures.get(f).get();
                if (!Arrays.equals(expected[f % 8], got)) {
                    int k = f % 8;
                    float[] now = model.predict(inputs[k], 1, shapes[k][0], shapes[k][1]);
                    // Tell a concurrency fault from kernels whose results drift over time (seen with phase-2
                    // GlobalAvgPool and Linear: Vector API reduceLanes(ADD) rounds differently once C2 compiles it).
                    assertArrayEquals(expected[k], now, "not a concurrency fault: a sequential predict of input " + k
                            + " now also differs from the first one, so the kernels' results change over time");
                    assertArrayEquals(expected[k], got, "concurrent call " + f + " differs from the sequential result");
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void offHeapPredictMatchesArrayPredict() {
        float[] x = image(input224, 1, 224, 224);
        float[] want = model.predict(x, 1, 224, 224);
        try (Arena arena = Arena.ofConfined()) { // the workers may not read it: copied into the input buffer
            MemorySegment in = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
            MemorySegment out = arena.allocate(10 * 4);
            model.predict(in, out, 1, 224, 224);
            assertArrayEquals(want, out.toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    /**
     * A segment every thread may read is read in place by the first layer: the same logits, the input untouched,
     * and the next call on other contents of the same segment (or of a slice 4 bytes in, off the buffers'
     * 64-byte alignment) sees them.
     */
    @Test
    void sharedInputSegmentsAreReadInPlaceAndLeftUnchanged() {
        float[] x = image(input224, 1, 224, 224), y = image(input224, 2, 224, 224);
        float[] wantX = model.predict(x, 1, 224, 224), wantY = model.predict(y, 1, 224, 224);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment whole = arena.allocate(x.length * 4L + 4, 64);
            MemorySegment out = arena.allocate(10 * 4);
            for (long at : new long[] {0, 4}) {
                MemorySegment in = whole.asSlice(at, x.length * 4L);
                MemorySegment.copy(x, 0, in, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, x.length);
                model.predict(in, out, 1, 224, 224);
                assertArrayEquals(wantX, out.toArray(ValueLayout.JAVA_FLOAT), "at byte " + at);
                assertArrayEquals(x, in.toArray(ValueLayout.JAVA_FLOAT_UNALIGNED), "the input at byte " + at);
                MemorySegment.copy(y, 0, in, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, y.length);
                model.predict(in, out, 1, 224, 224);
                assertArrayEquals(wantY, out.toArray(ValueLayout.JAVA_FLOAT), "other contents at byte " + at);
            }
        }
    }

    @Test
    void badInputsAreRefusedClearly() {
        var e = assertThrows(IllegalArgumentException.class, () -> model.predict(new float[10], 1, 224, 224));
        assertTrue(e.getMessage().contains("[1][3][224][224] needs 150528"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> model.predict(new float[0], 0, 224, 224));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocate(3 * 8 * 8 * 4);
            e = assertThrows(IllegalArgumentException.class, () -> model.predict(in, arena.allocate(4), 1, 8, 8));
            assertTrue(e.getMessage().contains("output segment"), e.getMessage());
        }
    }

    @Test
    void tinyInputsWork() {
        // The smallest input torchvision accepts is 1x1: every layer keeps at least one pixel.
        float[] out = model.predict(new float[] {0.5f, -0.5f, 1f}, 1, 1, 1);
        assertEquals(10, out.length);
        for (float v : out) {
            assertTrue(Float.isFinite(v));
        }
    }

    @Test
    void topKAndClassify() throws IOException {
        float[] logits = model.predict(input224, 4, 224, 224);
        List<Prediction> top = model.topK(logits, 2, 3);
        assertEquals(3, top.size());
        assertTrue(top.get(0).probability() >= top.get(1).probability());
        assertEquals(logits[2 * 10 + top.get(0).classId()], top.get(0).logit());
        var classified = model.classify(List.of(Fixtures.file("image/test.png"), Fixtures.file("image/test.jpg")), 10);
        double sum = classified.get(0).stream().mapToDouble(Prediction::probability).sum();
        assertEquals(1.0, sum, 1e-9);
    }

    @Test
    void closeIsIdempotentAndLaterUseThrows() throws IOException {
        ResNet m = ResNet.load(FixtureModels.modelFile("tiny_basic"), new ResNet.Options(1));
        m.predict(new float[3 * 16 * 16], 1, 16, 16);
        m.close();
        m.close();
        var e = assertThrows(IllegalStateException.class, () -> m.predict(new float[3 * 16 * 16], 1, 16, 16));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, m::threads);
    }

    /** Closing while other threads predict: each call either completes or throws IllegalStateException. */
    @Test
    void closeDuringPredictsIsSafe() throws Exception {
        ResNet m = ResNet.load(FixtureModels.modelFile("tiny_basic"), new ResNet.Options(2));
        float[] x = new float[3 * 32 * 32];
        float[] want = m.predict(x, 1, 32, 32);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            var futures = new ArrayList<Future<float[]>>();
            for (int i = 0; i < 30; i++) {
                futures.add(pool.submit(() -> m.predict(x, 1, 32, 32)));
            }
            Thread.sleep(5);
            m.close();
            int completed = 0;
            for (Future<float[]> f : futures) {
                try {
                    assertArrayEquals(want, f.get());
                    completed++;
                } catch (java.util.concurrent.ExecutionException e) {
                    assertTrue(e.getCause() instanceof IllegalStateException, e.getCause().toString());
                }
            }
            System.out.println("close during predicts: " + completed + " of 30 completed before close");
        } finally {
            pool.shutdownNow();
        }
        assertThrows(IllegalStateException.class, () -> m.predict(x, 1, 32, 32));
    }

    @Test
    void seededModelsAreDeterministic() {
        var opts = new ResNet.Options(2);
        float[] x = new float[2 * 3 * 40 * 40];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.sin(i * 0.37);
        }
        float[] a;
        float[] b;
        float[] c;
        try (ResNet m = ResNet.seeded("resnet18", 5, opts)) {
            a = m.predict(x, 2, 40, 40);
            assertEquals(1000, m.numClasses());
            assertEquals("tench", m.labels().get(0));
            assertEquals(m.flops(1, 224, 224), 2 * 1_814_083_944L, 0.01e9);
        }
        try (ResNet m = ResNet.seeded("resnet18", 5, opts)) {
            b = m.predict(x, 2, 40, 40);
        }
        try (ResNet m = ResNet.seeded("resnet18", 6, opts)) {
            c = m.predict(x, 2, 40, 40);
        }
        assertArrayEquals(a, b);
        assertFalse(Arrays.equals(a, c));
        for (float v : a) {
            assertTrue(Float.isFinite(v) && Math.abs(v) < 1e4, "logit " + v);
        }
        assertThrows(IllegalArgumentException.class, () -> ResNet.seeded("resnet19", 1, opts));
    }

    @Test
    void loadErrorsNameTheFileAndTensor() throws IOException {
        Path notModel = tmp.resolve("weights.pt");
        Files.write(notModel, new byte[100]);
        var e = assertThrows(ModelFormatException.class, () -> ResNet.load(notModel));
        assertTrue(e.getMessage().contains(notModel.toString()), e.getMessage());
        var missing = assertThrows(IOException.class, () -> ResNet.load(tmp.resolve("nope.skj")));
        assertTrue(missing.getMessage().contains("nope.skj: no such model file"), missing.getMessage());

        // The fixture model with one tensor cut short by a row.
        Path src = FixtureModels.modelFile("tiny_basic");
        Path bad = tmp.resolve("bad.skj");
        try (Arena arena = Arena.ofConfined()) {
            ModelFile f = ModelFile.open(src, arena);
            var tensors = new ArrayList<TensorData>();
            for (ModelFile.Tensor t : f.tensors()) {
                long[] shape = t.shape();
                MemorySegment data = t.data();
                if (t.name().equals("layer2.0.conv2.weight")) {
                    shape[1]--;
                    data = data.asSlice(0, data.byteSize() / 128 * 127);
                }
                tensors.add(new TensorData(t.name(), t.dtype(), shape, data, t.sourceDType()));
            }
            ModelFileWriter.write(bad, f.architecture(), Metadata.getDefaultInstance(), tensors);
        }
        e = assertThrows(ModelFormatException.class, () -> ResNet.load(bad));
        assertTrue(e.getMessage().contains(bad.toString())
                && e.getMessage().contains("layer2.0.conv2.weight has shape [128, 127, 3, 3], expected [128, 128, 3, 3]"),
                e.getMessage());
    }
}
