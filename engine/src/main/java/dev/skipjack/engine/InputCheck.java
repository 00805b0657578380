package dev.skipjack.engine;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The scans behind {@link ResNet.Options#checkInputs()}: a NaN or an infinity anywhere in an input spreads
 * through every convolution into every logit of that image, and argmax over NaNs still names a class, so a
 * caller who asked for checks gets an exception that says where instead.
 */
final class InputCheck {
    private InputCheck() {}

    /** {@code input}: float32 NCHW {@code [n][3][h][w]} in native order. */
    static void requireFinite(MemorySegment input, int n, int h, int w) {
        long plane = (long) h * w;
        long count = 3L * n * plane;
        for (long i = 0; i < count; i++) {
            float v = input.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            if (!Float.isFinite(v)) {
                long image = i / (3 * plane);
                long channel = i / plane % 3;
                long y = i % plane / w;
                long x = i % w;
                throw new IllegalArgumentException("input image " + image + " holds " + v + " at channel " + channel
                        + ", y " + y + ", x " + x + " (of [" + n + "][3][" + h + "][" + w + "]); inputs must be"
                        + " finite");
            }
        }
    }

    /** {@code logits}: float32 {@code [n][classes]} in native order, from a finite input. */
    static void requireFiniteLogits(MemorySegment logits, int n, int classes) {
        long count = (long) n * classes;
        for (long i = 0; i < count; i++) {
            float v = logits.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            if (!Float.isFinite(v)) {
                throw new IllegalArgumentException("the logits of input image " + i / classes + " are not finite ("
                        + v + " for class " + i % classes + ") although its input is: its values are too large"
                        + " and overflow float32 inside the network");
            }
        }
    }
}
