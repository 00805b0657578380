package dev.skipjack.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class PredictionTest {
    @Test
    void topKSortsBySoftmaxProbabilityAndBreaksTiesByClassId() {
        float[] logits = {0f, 2f, 1f, 2f, -1f, /* row 1 */ 5f, 0f, 0f, 0f, 0f};
        List<String> labels = List.of("a", "b", "c", "d", "e");
        var top = Prediction.topK(logits, 0, 3, labels);
        assertEquals(List.of(1, 3, 2), top.stream().map(Prediction::classId).toList());
        double z = Math.exp(0) + 2 * Math.exp(2) + Math.exp(1) + Math.exp(-1);
        assertEquals(Math.exp(2) / z, top.get(0).probability(), 1e-12);
        assertEquals("d", top.get(1).label());
        assertEquals(5, Prediction.topK(logits, 1, 99, labels).size());
        assertEquals(0, Prediction.topK(logits, 1, 1, labels).get(0).classId());
        assertThrows(IllegalArgumentException.class, () -> Prediction.topK(logits, 2, 1, labels));
    }

    @Test
    void imagenetClassNames() {
        List<String> names = ResNet.imagenetClasses();
        assertEquals(1000, names.size());
        assertEquals("tench", names.get(0));
        assertEquals("golden retriever", names.get(207));
        assertEquals("toilet tissue", names.get(999));
    }
}
