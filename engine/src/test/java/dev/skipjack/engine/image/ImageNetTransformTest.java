package dev.skipjack.engine.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.testing.Fixtures;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The preprocessing against torchvision's own transform output on PIL-decoded images (fixtures). */
class ImageNetTransformTest {
    private static float maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        float m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    private static double meanAbsDiff(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += Math.abs(a[i] - b[i]);
        }
        return s / a.length;
    }

    /**
     * PNG decoding is lossless and the resampling, the crop and the float32 arithmetic reproduce
     * Pillow/torchvision step by step, so every value must be the same float; 1e-6 only leaves room for a
     * different but equally valid float rounding order in Normalize (values are at most ~2.7, an ulp ~2.4e-7).
     */
    @Test
    void pngMatchesTorchvision() throws IOException {
        RgbImage img = ImageDecoder.read(Fixtures.file("image/test.png"));
        assertEquals(320, img.width());
        assertEquals(240, img.height());
        float[] got = ImageNetTransform.IMAGENET.apply(img);
        float[] want = Fixtures.readF32(Fixtures.file("image/expected_png.f32"));
        float d = maxAbsDiff(got, want);
        System.out.printf("preprocess test.png: max |skipjack - torchvision| = %.3g%n", d);
        assertTrue(d <= 1e-6f, "max abs difference " + d);
    }

    /**
     * JPEG decoding is lossy and decoders may legally differ in IDCT rounding and chroma upsampling. JPEGs go
     * through ImageIO's libjpeg, whose integer IDCT and fancy upsampling PIL's libjpeg-turbo reproduces bit for
     * bit, so on this JDK the result is identical (measured 0). Another libjpeg build may round a pixel by one
     * grey level before the resize: allow two grey levels (1 level = 1/255/std, about 0.0175) on the worst
     * value and a tenth of a level on average. (commons-imaging's own JPEG decoder is off by a mean of 2
     * levels and a worst value of 1.17 here, which both bounds reject.)
     */
    @Test
    void baselineJpegMatchesTorchvisionWithinDecoderDifferences() throws IOException {
        checkJpeg("image/test.jpg", "image/expected_jpg.f32");
    }

    /** commons-imaging refuses progressive JPEG; the ImageIO fallback must decode it. */
    @Test
    void progressiveJpegDecodesThroughFallback() throws IOException {
        checkJpeg("image/test_progressive.jpg", "image/expected_progressive_jpg.f32");
    }

    private static void checkJpeg(String image, String expected) throws IOException {
        RgbImage img = ImageDecoder.read(Fixtures.file(image));
        float[] got = ImageNetTransform.IMAGENET.apply(img);
        float[] want = Fixtures.readF32(Fixtures.file(expected));
        float max = maxAbsDiff(got, want);
        double mean = meanAbsDiff(got, want);
        System.out.printf("preprocess %s: max |skipjack - torchvision| = %.3g, mean = %.3g%n", image, max, mean);
        float level = 1f / 255f / 0.224f;
        assertTrue(mean <= level / 10, "mean abs difference " + mean);
        assertTrue(max <= 2 * level, "max abs difference " + max);
    }

    @Test
    void cropOffsetsRoundHalfToEven() {
        // 341 wide after resize: (341 - 224) / 2 = 58.5 rounds to 58 in Python.
        byte[] px = new byte[341 * 256 * 3];
        for (int x = 0; x < 341; x++) {
            for (int y = 0; y < 256; y++) {
                px[(y * 341 + x) * 3] = (byte) x;
            }
        }
        var t = new ImageNetTransform(256, 224, new float[] {0, 0, 0}, new float[] {1, 1, 1});
        float[] out = t.apply(new RgbImage(341, 256, px));
        assertEquals(58 / 255f, out[0], 0f);
        assertEquals((58 + 223) % 256 / 255f, out[223], 0f);
    }

    @Test
    void smallImagesArePaddedWithZerosLikeTorchvision() {
        byte[] px = new byte[2 * 2 * 3];
        java.util.Arrays.fill(px, (byte) 255);
        var t = new ImageNetTransform(2, 5, new float[] {0, 0, 0}, new float[] {1, 1, 1});
        float[] out = t.apply(new RgbImage(2, 2, px));
        // pad left/top (5-2)//2 = 1, right/bottom 2: rows/cols 1..2 are the image.
        float[] row1 = {0, 1, 1, 0, 0};
        float[] got = new float[5];
        System.arraycopy(out, 5, got, 0, 5);
        assertArrayEquals(row1, got);
    }
}
