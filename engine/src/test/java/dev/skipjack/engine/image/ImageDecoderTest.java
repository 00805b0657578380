package dev.skipjack.engine.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Decoding to PIL's convert("RGB") bytes, on small images written here. */
class ImageDecoderTest {
    @TempDir
    Path tmp;

    private static byte[] encode(BufferedImage img, String format) throws IOException {
        var out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, format, out), "no ImageIO writer for " + format);
        return out.toByteArray();
    }

    private static BufferedImage rgbPattern(int type) {
        var img = new BufferedImage(5, 3, type);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) {
                img.setRGB(x, y, (0x40 << 24) | (x * 50 << 16) | (y * 100 << 8) | (x * 10 + y));
            }
        }
        return img;
    }

    private static void assertPattern(RgbImage d) {
        assertEquals(5, d.width());
        assertEquals(3, d.height());
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) {
                assertEquals(x * 50, d.get(x, y, 0));
                assertEquals(y * 100, d.get(x, y, 1));
                assertEquals(x * 10 + y, d.get(x, y, 2));
            }
        }
    }

    @Test
    void rgbPngAndBmp() throws IOException {
        assertPattern(ImageDecoder.decode(encode(rgbPattern(BufferedImage.TYPE_INT_RGB), "png"), "a.png"));
        assertPattern(ImageDecoder.decode(encode(rgbPattern(BufferedImage.TYPE_INT_RGB), "bmp"), "a.bmp"));
    }

    @Test
    void alphaIsDroppedNotComposited() throws IOException {
        // 0x40 alpha: compositing over black or white would change every value; PIL's convert("RGB") keeps them.
        assertPattern(ImageDecoder.decode(encode(rgbPattern(BufferedImage.TYPE_INT_ARGB), "png"), "a.png"));
    }

    @Test
    void grayIsReplicatedWithoutGammaConversion() throws IOException {
        var img = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setPixels(0, 0, 4, 1, new int[] {0, 64, 128, 255});
        RgbImage d = ImageDecoder.decode(encode(img, "png"), "g.png");
        // BufferedImage.getRGB would map 64 to about 136 through the linear grey colour space.
        assertArrayEquals(new byte[] {0, 0, 0, 64, 64, 64, (byte) 128, (byte) 128, (byte) 128, -1, -1, -1},
                d.pixels());
    }

    @Test
    void paletteImagesLookUpTheirColours() throws IOException {
        byte[] r = {10, 20, 30, 40};
        byte[] g = {50, 60, 70, 80};
        byte[] b = {90, 100, 110, 120};
        var cm = new IndexColorModel(8, 4, r, g, b);
        var img = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_INDEXED, cm);
        img.getRaster().setPixels(0, 0, 4, 1, new int[] {3, 2, 1, 0});
        for (String fmt : new String[] {"png", "gif"}) {
            RgbImage d = ImageDecoder.decode(encode(img, fmt), "p." + fmt);
            assertEquals(40, d.get(0, 0, 0), fmt);
            assertEquals(80, d.get(0, 0, 1), fmt);
            assertEquals(120, d.get(0, 0, 2), fmt);
            assertEquals(10, d.get(3, 0, 0), fmt);
        }
    }

    @Test
    void pngGammaChunkIsIgnoredLikePil() throws IOException {
        byte[] png = encode(rgbPattern(BufferedImage.TYPE_INT_RGB), "png");
        // Insert gAMA (gamma 1/2.2) right after IHDR (8-byte signature + 25-byte IHDR chunk).
        ByteBuffer chunk = ByteBuffer.allocate(16);
        chunk.putInt(4).put("gAMA".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).putInt(45455);
        var crc = new CRC32();
        crc.update(chunk.array(), 4, 8);
        chunk.putInt((int) crc.getValue());
        var withGamma = new ByteArrayOutputStream();
        withGamma.write(png, 0, 33);
        withGamma.write(chunk.array());
        withGamma.write(png, 33, png.length - 33);
        assertPattern(ImageDecoder.decode(withGamma.toByteArray(), "gamma.png"));
    }

    /** The fallback decoder gives the same bytes for colour images, gAMA chunk included. */
    @Test
    void commonsImagingFallbackAgrees() throws IOException {
        for (String fmt : new String[] {"png", "bmp"}) {
            byte[] file = encode(rgbPattern(BufferedImage.TYPE_INT_RGB), fmt);
            byte[] input = fmt.equals("png") ? ImageDecoder.withoutColorChunks(file) : file;
            assertPattern(ImageDecoder.toRgb(org.apache.commons.imaging.Imaging.getBufferedImage(input), fmt));
        }
    }

    @Test
    void errorsNameTheFile() throws IOException {
        Path text = tmp.resolve("notes.png");
        Files.writeString(text, "not an image at all");
        var e = assertThrows(IOException.class, () -> ImageDecoder.read(text));
        assertTrue(e.getMessage().startsWith(text.toString()) && e.getMessage().contains("not a PNG, JPEG, BMP or GIF"),
                e.getMessage());

        byte[] png = encode(rgbPattern(BufferedImage.TYPE_INT_RGB), "png");
        Path truncated = tmp.resolve("truncated.png");
        Files.write(truncated, java.util.Arrays.copyOf(png, 40));
        e = assertThrows(IOException.class, () -> ImageDecoder.read(truncated));
        assertTrue(e.getMessage().startsWith(truncated.toString()) && e.getMessage().contains("cannot decode"),
                e.getMessage());

        Path missing = tmp.resolve("missing.jpg");
        e = assertThrows(IOException.class, () -> ImageDecoder.read(missing));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("no such file"),
                e.getMessage());
    }
}
