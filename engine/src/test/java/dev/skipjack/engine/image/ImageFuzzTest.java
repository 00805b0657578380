package dev.skipjack.engine.image;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;

/**
 * Coverage-guided fuzzing of image decoding (PNG, JPEG, BMP, GIF through ImageIO and commons-imaging) and the
 * ImageNet preprocessing after it. Whatever the bytes, decoding ends in an {@link RgbImage} or an
 * {@link IOException} naming the input, and preprocessing in finite floats or an
 * {@link IllegalArgumentException}; anything else, a hang or an out-of-memory is a finding.
 *
 * <p>The pixel limit is lowered to 1 Mi pixels here so that fuzzing is not spent decoding large images; the
 * check is the same as at the default ({@code ImageLimitsTest} shows it at its default too). Plain
 * {@code mvn test} replays {@code src/test/resources/dev/skipjack/engine/image/ImageFuzzTestInputs/};
 * {@code JAZZER_FUZZ=1} fuzzes (docs/SECURITY.md).
 */
class ImageFuzzTest {
    static final long MAX_PIXELS = 1 << 20;
    /** torchvision's recipe at a smaller size, so that preprocessing stays cheap. */
    private static final ImageNetTransform SMALL = new ImageNetTransform(40, 32,
            new float[] {0.485f, 0.456f, 0.406f}, new float[] {0.229f, 0.224f, 0.225f});

    @FuzzTest(maxDuration = "30s")
    void decodeAndPreprocess(byte[] data) {
        RgbImage image;
        try {
            image = ImageDecoder.decode(data, "fuzz.img", MAX_PIXELS);
        } catch (IOException expected) {
            if (expected.getMessage() == null || !expected.getMessage().startsWith("fuzz.img: ")) {
                throw new AssertionError("a decoding failure that does not name the input", expected);
            }
            return;
        }
        if ((long) image.width() * image.height() > MAX_PIXELS) {
            throw new AssertionError("decoded " + image.width() + "x" + image.height() + " over the limit");
        }
        float[] out = new float[SMALL.outputLength()];
        try {
            SMALL.apply(image, out, 0, MAX_PIXELS);
        } catch (IllegalArgumentException expected) {
            return;
        }
        for (float v : out) {
            if (!Float.isFinite(v)) {
                throw new AssertionError("preprocessing produced " + v);
            }
        }
    }
}
