package dev.skipjack.engine.hardening;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.ResNet;
import dev.skipjack.engine.image.ImageDecoder;
import dev.skipjack.engine.image.ImageNetTransform;
import dev.skipjack.engine.image.RgbImage;
import dev.skipjack.format.ModelFile;
import dev.skipjack.format.ModelFormatException;
import dev.skipjack.format.ReadLimits;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine's limits (model file header, tensor count and size, image pixels before decoding and after
 * resizing) fire with a message naming the limit's system property; and the input check reports NaN and
 * infinities, in the input and in the logits, instead of returning a confident top-1.
 */
class EngineLimitsTest {
    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void write() throws IOException {
        model = TinyModel.write(dir.resolve("tiny.skj"));
    }

    private static String modelRefusal(ReadLimits limits) {
        return assertThrows(ModelFormatException.class, () -> {
            try (Arena a = Arena.ofConfined()) {
                ModelFile.open(model, a, limits);
            }
        }).getMessage();
    }

    private static void assertMentions(String message, String... fragments) {
        for (String f : fragments) {
            assertTrue(message.contains(f), "expected '" + f + "' in: " + message);
        }
    }

    @Test
    void modelFileLimits() throws IOException {
        var d = ReadLimits.defaults();
        assertMentions(modelRefusal(d.withMaxHeaderBytes(100)), model.toString(), "over the limit of 100 bytes",
                ReadLimits.HEADER_BYTES_PROPERTY);
        assertMentions(modelRefusal(d.withMaxTensors(10)), "tensors, over the limit of 10",
                ReadLimits.TENSORS_PROPERTY);
        assertMentions(modelRefusal(d.withMaxTensorBytes(1 << 20)), "tensor layer3.0.downsample.0.weight",
                "over the limit of 1048576", ReadLimits.TENSOR_BYTES_PROPERTY);
        String old = System.getProperty(ReadLimits.TENSORS_PROPERTY);
        try {
            System.setProperty(ReadLimits.TENSORS_PROPERTY, "20");
            var e = assertThrows(ModelFormatException.class, () -> ResNet.load(model, new ResNet.Options(1)));
            assertMentions(e.getMessage(), "over the limit of 20", ReadLimits.TENSORS_PROPERTY);
        } finally {
            restore(ReadLimits.TENSORS_PROPERTY, old);
        }
        try (var m = ResNet.load(model, new ResNet.Options(1))) {
            assertEquals(3, m.numClasses());
        }
    }

    @Test
    void decompressionBombIsRefusedFromItsHeader() throws IOException {
        byte[] png = Files.readAllBytes(Path.of("src/test/resources/dev/skipjack/engine/image/ImageFuzzTestInputs/"
                + "decodeAndPreprocess/regression-decompression-bomb.png"));
        assertTrue(png.length < 1000);
        // At the default limit: refused before a 1.2 GB raster is allocated.
        var e = assertThrows(IOException.class, () -> ImageDecoder.decode(png, "bomb.png"));
        assertMentions(e.getMessage(), "bomb.png: the header declares a 20000x20000 image",
                "over the limit of " + ImageDecoder.DEFAULT_MAX_PIXELS + " pixels", ImageDecoder.MAX_PIXELS_PROPERTY);
        byte[] small = FuzzSeeds.withDimensions(png, 8, 8);
        assertEquals(8, ImageDecoder.decode(small, "ok.png").width());
        assertMentions(assertThrows(IOException.class, () -> ImageDecoder.decode(small, "s.png", 63)).getMessage(),
                "8x8 image, over the limit of 63 pixels");
    }

    @Test
    void resizingIsBoundedToo() {
        // 1 x 20000 is 20 000 pixels, but its shorter side resized to 256 would be 256 x 5 120 000.
        var thin = new RgbImage(1, 20_000, new byte[60_000]);
        var e = assertThrows(IllegalArgumentException.class, () -> ImageNetTransform.IMAGENET.apply(thin));
        assertMentions(e.getMessage(), "a 1x20000 image resized to shorter side 256 would be 256x5120000",
                ImageDecoder.MAX_PIXELS_PROPERTY);
        String old = System.getProperty(ImageDecoder.MAX_PIXELS_PROPERTY);
        try {
            System.setProperty(ImageDecoder.MAX_PIXELS_PROPERTY, "16m");
            assertEquals(16L << 20, ImageDecoder.maxPixels());
            System.setProperty(ImageDecoder.MAX_PIXELS_PROPERTY, "-5");
            assertThrows(IllegalArgumentException.class, ImageDecoder::maxPixels);
        } finally {
            restore(ImageDecoder.MAX_PIXELS_PROPERTY, old);
        }
    }

    @Test
    void inputCheckReportsNanAndInfinity() throws IOException {
        float[] x = TinyModel.input(2, 16, 16, 5);
        try (var plain = ResNet.load(model, new ResNet.Options(1));
                var checked = ResNet.load(model, new ResNet.Options(1).withCheckInputs(true))) {
            assertArrayEquals(plain.predict(x, 2, 16, 16), checked.predict(x, 2, 16, 16));
            float[] nan = x.clone();
            nan[3 * 256 + 2 * 256 + 5 * 16 + 7] = Float.NaN; // image 1, channel 2, y 5, x 7
            float[] silent = plain.predict(nan, 2, 16, 16);
            assertTrue(Float.isNaN(silent[3]), "unchecked, the NaN reaches the logits of image 1");
            var e = assertThrows(IllegalArgumentException.class, () -> checked.predict(nan, 2, 16, 16));
            assertMentions(e.getMessage(), "input image 1 holds NaN at channel 2, y 5, x 7");
            float[] inf = x.clone();
            inf[0] = Float.NEGATIVE_INFINITY;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment in = a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, inf);
                MemorySegment out = a.allocate(2 * 3 * 4);
                assertMentions(assertThrows(IllegalArgumentException.class,
                        () -> checked.predict(in, out, 2, 16, 16)).getMessage(), "input image 0 holds -Infinity");
            }
            float[] huge = x.clone();
            java.util.Arrays.fill(huge, 0, 3 * 256, 3e38f);
            assertMentions(assertThrows(IllegalArgumentException.class, () -> checked.predict(huge, 2, 16, 16))
                    .getMessage(), "the logits of input image 0 are not finite", "although its input is");
        }
    }

    private static void restore(String key, String old) {
        if (old == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, old);
        }
    }
}
