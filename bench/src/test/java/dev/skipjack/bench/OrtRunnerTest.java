package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** ONNX Runtime on the fixture's ResNet-18 must give PyTorch's logits: the comparison side is itself checked. */
class OrtRunnerTest {
    /** ONNX Runtime differs from PyTorch float32 by rounding only (about 1e-6 on this fixture). */
    private static final double TOLERANCE = 1e-4;

    @Test
    void matchesPyTorchLogitsAndRebindsToAnotherBatch() throws Exception {
        Path onnx = Fixtures.file("resnet18", "model.onnx");
        float[] input = Fixtures.floats(Fixtures.file("resnet18", "input_224.f32"));
        float[] expected = Fixtures.floats(Fixtures.file("resnet18", "logits_224.f32"));
        try (OrtRunner ort = OrtRunner.open(onnx, 2); Arena arena = Arena.ofShared()) {
            assertEquals(1000, ort.numClasses());
            assertTrue(ort.version().startsWith("1."), ort.version());
            MemorySegment in4 = arena.allocate(4L * input.length, 64);
            MemorySegment.copy(input, 0, in4, ValueLayout.JAVA_FLOAT, 0, input.length);

            ort.bind(in4, 4, 224, 224);
            ort.run();
            float[] first = ort.logits();
            assertEquals(4000, first.length);
            double diff = Report.maxAbsDiff(first, expected);
            assertTrue(diff < TOLERANCE, "ONNX Runtime vs PyTorch max |logit diff| " + diff);
            ort.run();  // the pinned output must survive the first run's result being closed
            assertArrayEquals(first, ort.logits());

            MemorySegment in1 = in4.asSlice(0, 4L * 3 * 224 * 224);
            ort.bind(in1, 1, 224, 224);
            ort.run();
            float[] one = ort.logits();
            assertEquals(1000, one.length);
            assertTrue(Report.maxAbsDiff(one, Arrays.copyOf(expected, 1000)) < TOLERANCE);
        }
    }

    @Test
    void refusesAnInputOfTheWrongSize() throws Exception {
        try (OrtRunner ort = OrtRunner.open(Fixtures.file("resnet18", "model.onnx"), 1);
             Arena arena = Arena.ofConfined()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> ort.bind(arena.allocate(4L * 3 * 8 * 8), 2, 8, 8));
            assertTrue(e.getMessage().contains("[2, 3, 8, 8]"), e.getMessage());
        }
    }

    @Test
    void missingFileIsNamed() {
        var e = assertThrows(NoSuchFileException.class, () -> OrtRunner.open(Path.of("no/such/model.onnx"), 1));
        assertTrue(e.getMessage().contains("no/such/model.onnx"), e.getMessage());
    }
}
