package dev.skipjack.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * One class of a classification result.
 *
 * @param classId     index into the model's classes
 * @param label       the class name ({@link ResNet#labels()})
 * @param probability softmax probability over all classes of the image
 * @param logit       the raw score
 */
public record Prediction(int classId, String label, double probability, float logit) {
    /**
     * The {@code k} most probable classes of row {@code row} of {@code logits} ({@code [n][labels.size()]}),
     * most probable first; ties keep the lower class id first. The softmax is computed in double.
     */
    public static List<Prediction> topK(float[] logits, int row, int k, List<String> labels) {
        int classes = labels.size();
        if (row < 0 || (long) (row + 1) * classes > logits.length) {
            throw new IllegalArgumentException("row " + row + " is outside logits of " + logits.length + " floats ["
                    + (logits.length / Math.max(1, classes)) + "][" + classes + "]");
        }
        if (k < 1) {
            throw new IllegalArgumentException("k must be >= 1, got " + k);
        }
        int off = row * classes;
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < classes; i++) {
            max = Math.max(max, logits[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < classes; i++) {
            sum += Math.exp(logits[off + i] - max);
        }
        k = Math.min(k, classes);
        // Partial selection: k is small (5), classes ~1000.
        int[] best = new int[k];
        int found = 0;
        for (int i = 0; i < classes; i++) {
            float v = logits[off + i];
            if (found == k && !(v > logits[off + best[k - 1]])) {
                continue;
            }
            int pos = found < k ? found++ : k - 1;
            while (pos > 0 && v > logits[off + best[pos - 1]]) {
                best[pos] = best[pos - 1];
                pos--;
            }
            best[pos] = i;
        }
        var out = new ArrayList<Prediction>(k);
        for (int j = 0; j < k; j++) {
            int c = best[j];
            out.add(new Prediction(c, labels.get(c), Math.exp(logits[off + c] - max) / sum, logits[off + c]));
        }
        return out;
    }
}
