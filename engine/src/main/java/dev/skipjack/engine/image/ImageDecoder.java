package dev.skipjack.engine.image;

import java.awt.Dimension;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import org.apache.commons.imaging.Imaging;

/**
 * Decodes PNG, JPEG, BMP and GIF files to {@link RgbImage}s holding the same bytes PIL's
 * {@code Image.open(f).convert("RGB")} would: raw samples, no colour management, alpha dropped (not composited),
 * palettes looked up, grey replicated to three channels.
 *
 * <p>The JDK's ImageIO decodes first and commons-imaging takes over where ImageIO refuses a file (see
 * {@link #decode} for why in that order). commons-imaging applies a PNG's {@code gAMA} chunk and converts
 * through its {@code iCCP} profile, which PIL does not, so those chunks are removed before decoding. A
 * {@link BufferedImage#getRGB} on a grey image goes through a linear-grey colour space, so pixels are read
 * from the raster, never through {@code getRGB}, wherever the colour model allows.
 */
public final class ImageDecoder {
    private ImageDecoder() {}

    /** The container formats accepted, recognised by their leading bytes (never by the file name). */
    public enum Format { PNG, JPEG, BMP, GIF }

    /** System property overriding {@link #DEFAULT_MAX_PIXELS}. */
    public static final String MAX_PIXELS_PROPERTY = "skipjack.limit.imagePixels";
    /**
     * 64 Mi pixels (8192 x 8192): a photograph of any camera, while a decoder asked for more would allocate
     * gigabytes for a file of a few kilobytes (a "decompression bomb").
     */
    public static final long DEFAULT_MAX_PIXELS = 1L << 26;

    /** The pixel limit in force: {@value #MAX_PIXELS_PROPERTY} if set, else {@link #DEFAULT_MAX_PIXELS}. */
    public static long maxPixels() {
        return dev.skipjack.format.ReadLimits.property(MAX_PIXELS_PROPERTY, DEFAULT_MAX_PIXELS, Integer.MAX_VALUE);
    }

    /** Reads and decodes {@code file}; every failure is an {@link IOException} whose message names the file. */
    public static RgbImage read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such file", e);
        } catch (IOException e) {
            throw new IOException(file + ": cannot read: " + e.getMessage(), e);
        }
        return decode(bytes, file.toString());
    }

    /** Decodes an in-memory image within {@link #maxPixels()}; {@code name} is used in error messages. */
    public static RgbImage decode(byte[] bytes, String name) throws IOException {
        return decode(bytes, name, maxPixels());
    }

    /**
     * Decodes an in-memory image of at most {@code maxPixels} pixels; {@code name} is used in error messages.
     * The dimensions are read from the header and checked before any pixel is decoded. Every failure (not an
     * image, corrupt, unsupported, over the limit) is an {@link IOException} naming {@code name}.
     */
    public static RgbImage decode(byte[] bytes, String name, long maxPixels) throws IOException {
        Format format = sniff(bytes);
        if (format == null) {
            throw new IOException(name + ": not a PNG, JPEG, BMP or GIF image (unrecognised leading bytes)");
        }
        if (format == Format.PNG) {
            checkPngChunks(bytes, name);
        } else if (format == Format.BMP) {
            checkBmpSizes(bytes, name);
        }
        byte[] input = format == Format.PNG ? withoutColorChunks(bytes) : bytes;
        // ImageIO decodes first, commons-imaging where ImageIO refuses a file (some BMP variants, CMYK JPEG).
        // The order is for fidelity to PIL, measured on the fixtures: ImageIO's JPEG reader is libjpeg, whose
        // integer IDCT and fancy chroma upsampling PIL's libjpeg-turbo reproduces bit for bit (0 difference
        // after preprocessing), while commons-imaging's own JPEG decoder is off by ~2 grey levels on average;
        // and commons-imaging stores grey PNGs through a linear-grey colour space (64 becomes 13), which no
        // later step can undo exactly.
        BufferedImage image = null;
        String firstFailure = null;
        Exception cause = null;
        for (int attempt = 0; attempt < 2 && image == null; attempt++) {
            boolean useImageIo = attempt == 0;
            try {
                image = useImageIo ? readWithImageIo(input, name, maxPixels) : readWithImaging(input, name, maxPixels);
                if (image == null && firstFailure == null) {
                    firstFailure = "no ImageIO reader accepts it";
                }
            } catch (TooLarge e) {
                throw new IOException(e.getMessage());
            } catch (OutOfMemoryError e) {
                // A decoder allocating by a size field of the file: one failed allocation, nothing half-built is
                // kept, so the heap is intact. Report the file, as for any other undecodable input.
                throw new IOException(name + ": cannot decode this " + format + " image (" + (useImageIo ? "ImageIO"
                        : "commons-imaging") + " ran out of memory on a size the file declares)", e);
            } catch (IOException | RuntimeException e) {
                cause = e;
                String why = (useImageIo ? "ImageIO: " : "commons-imaging: ")
                        + (e.getMessage() == null ? e.toString() : e.getMessage());
                firstFailure = firstFailure == null ? why : firstFailure + "; " + why;
            }
        }
        if (image == null) {
            throw new IOException(name + ": cannot decode this " + format + " image (" + firstFailure + ")", cause);
        }
        return toRgb(image, name);
    }

    /** Thrown by the size check so that the second decoder is not tried on an image the first found too large. */
    private static final class TooLarge extends IOException {
        TooLarge(String message) {
            super(message);
        }
    }

    private static void checkSize(long w, long h, String name, long maxPixels) throws TooLarge {
        if (w < 1 || h < 1 || w * h > maxPixels) {
            throw new TooLarge(name + ": the header declares a " + w + "x" + h + " image, "
                    + (w < 1 || h < 1 ? "which has no pixels" : "over the limit of " + maxPixels + " pixels ("
                    + MAX_PIXELS_PROPERTY + "); refusing a possible decompression bomb"));
        }
    }

    /** ImageIO.read, but with the header's dimensions checked before the pixels are decoded. */
    private static BufferedImage readWithImageIo(byte[] input, String name, long maxPixels) throws IOException {
        // In memory: ImageIO.createImageInputStream would cache the bytes in a temporary file.
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(input))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                return null;
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                checkSize(reader.getWidth(0), reader.getHeight(0), name, maxPixels);
                return reader.read(0, reader.getDefaultReadParam());
            } finally {
                reader.dispose();
            }
        }
    }

    /** commons-imaging, with the header's dimensions checked first. */
    private static BufferedImage readWithImaging(byte[] input, String name, long maxPixels) throws IOException {
        Dimension size = Imaging.getImageSize(input);
        checkSize(size.width, size.height, name, maxPixels);
        return Imaging.getBufferedImage(input);
    }

    /** The format named by the leading bytes, or null. */
    public static Format sniff(byte[] b) {
        if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
            return Format.PNG;
        }
        if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) {
            return Format.JPEG;
        }
        if (b.length >= 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8') {
            return Format.GIF;
        }
        if (b.length >= 14 && b[0] == 'B' && b[1] == 'M') {
            return Format.BMP;
        }
        return null;
    }

    /**
     * Refuses a PNG whose chunk list runs past the end of the file. commons-imaging allocates each chunk's
     * declared length before reading it, so a 246-byte file declaring a 754 MB IHDR cost 20 s and 750 MB of
     * heap, or an OutOfMemoryError (found by ImageFuzzTest; kept as a regression input).
     */
    static void checkPngChunks(byte[] png, String name) throws IOException {
        int pos = 8;
        while (pos < png.length) {
            if (png.length - pos < 12) {
                throw new IOException(name + ": cannot decode this PNG image (the chunk at offset " + pos
                        + " is truncated; the file is corrupt)");
            }
            long len = ((png[pos] & 0xffL) << 24) | ((png[pos + 1] & 0xff) << 16) | ((png[pos + 2] & 0xff) << 8)
                    | (png[pos + 3] & 0xff);
            if (len > png.length - pos - 12) {
                throw new IOException(name + ": cannot decode this PNG image (the chunk at offset " + pos + " declares "
                        + len + " bytes but only " + (png.length - pos - 12) + " follow; the file is truncated or"
                        + " corrupt)");
            }
            boolean end = png[pos + 4] == 'I' && png[pos + 5] == 'E' && png[pos + 6] == 'N' && png[pos + 7] == 'D';
            pos += (int) len + 12;
            if (end) {
                return;
            }
        }
        // Chunks ending cleanly without IEND: whether that is acceptable is the decoders' call.
    }

    /**
     * Refuses a run-length-encoded BMP whose declared pixel data is larger than the file: commons-imaging
     * allocates the declared size before reading (a 127-byte file declaring 252 MB took 28 s and 252 MB of
     * heap; found by ImageFuzzTest, kept as a regression input). Uncompressed BMPs are sized from width and
     * height, which the pixel limit bounds.
     */
    static void checkBmpSizes(byte[] bmp, String name) throws IOException {
        if (bmp.length < 54 || le32(bmp, 14) < 40) {
            return; // OS/2 and truncated headers: the decoders refuse or size them from the dimensions
        }
        long dataOffset = le32(bmp, 10);
        long compression = le32(bmp, 30);
        long imageSize = le32(bmp, 34);
        long available = Math.max(0, bmp.length - dataOffset);
        if ((compression == 1 || compression == 2) && imageSize > available) {
            throw new IOException(name + ": cannot decode this BMP image (it declares " + imageSize
                    + " bytes of compressed pixels but only " + available + " follow; the file is truncated or"
                    + " corrupt)");
        }
    }

    private static long le32(byte[] b, int at) {
        return (b[at] & 0xffL) | (b[at + 1] & 0xffL) << 8 | (b[at + 2] & 0xffL) << 16 | (b[at + 3] & 0xffL) << 24;
    }

    /**
     * The PNG without its gAMA and iCCP chunks. PIL hands out the stored samples untouched; commons-imaging
     * would gamma-correct or colour-convert them, which shifts every pixel. A malformed chunk list is left
     * for the decoder to report.
     */
    static byte[] withoutColorChunks(byte[] png) {
        var out = new ByteArrayOutputStream(png.length);
        out.write(png, 0, 8);
        int pos = 8;
        while (pos + 12 <= png.length) {
            long len = ((png[pos] & 0xffL) << 24) | ((png[pos + 1] & 0xff) << 16) | ((png[pos + 2] & 0xff) << 8)
                    | (png[pos + 3] & 0xff);
            if (len > png.length - pos - 12) {
                return png;
            }
            String type = new String(png, pos + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
            int total = (int) len + 12;
            if (!type.equals("gAMA") && !type.equals("iCCP")) {
                out.write(png, pos, total);
            }
            pos += total;
            if (type.equals("IEND")) {
                break;
            }
        }
        if (pos < png.length) {
            out.write(png, pos, png.length - pos);
        }
        return out.toByteArray();
    }

    /** PIL's {@code convert("RGB")} of whatever the decoder produced (see the class comment). */
    static RgbImage toRgb(BufferedImage image, String name) throws IOException {
        int w = image.getWidth();
        int h = image.getHeight();
        if (w < 1 || h < 1) {
            throw new IOException(name + ": image has no pixels (" + w + "x" + h + ")");
        }
        byte[] rgb = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        int bands = raster.getNumBands();
        int[] row = new int[w * bands];
        if (cm instanceof IndexColorModel icm) {
            for (int y = 0; y < h; y++) {
                raster.getPixels(0, y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    int idx = row[x];
                    int o = (y * w + x) * 3;
                    rgb[o] = (byte) icm.getRed(idx);
                    rgb[o + 1] = (byte) icm.getGreen(idx);
                    rgb[o + 2] = (byte) icm.getBlue(idx);
                }
            }
            return new RgbImage(w, h, rgb);
        }
        int csType = cm.getColorSpace().getType();
        boolean raw = !cm.isAlphaPremultiplied()
                && ((csType == ColorSpace.TYPE_GRAY && bands >= 1) || (csType == ColorSpace.TYPE_RGB && bands >= 3));
        if (raw) {
            int bits = cm.getComponentSize(0);
            boolean gray = csType == ColorSpace.TYPE_GRAY;
            for (int y = 0; y < h; y++) {
                raster.getPixels(0, y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    int o = (y * w + x) * 3;
                    int p = x * bands;
                    if (gray) {
                        byte v = (byte) to8(row[p], bits);
                        rgb[o] = v;
                        rgb[o + 1] = v;
                        rgb[o + 2] = v;
                    } else {
                        rgb[o] = (byte) to8(row[p], bits);
                        rgb[o + 1] = (byte) to8(row[p + 1], bits);
                        rgb[o + 2] = (byte) to8(row[p + 2], bits);
                    }
                }
            }
            return new RgbImage(w, h, rgb);
        }
        // CMYK, premultiplied alpha and other rare models: let Java2D convert to sRGB.
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int argb = image.getRGB(x, y);
                int o = (y * w + x) * 3;
                rgb[o] = (byte) (argb >> 16);
                rgb[o + 1] = (byte) (argb >> 8);
                rgb[o + 2] = (byte) argb;
            }
        }
        return new RgbImage(w, h, rgb);
    }

    /**
     * A sample of {@code bits} bits as 0..255: 16-bit samples keep their high byte (what PIL's PNG decoder
     * does for RGB;16), 1/2/4-bit samples are stretched to the full range (PIL's L;1, L;2, L;4 unpackers).
     */
    private static int to8(int v, int bits) {
        if (bits == 8) {
            return v;
        }
        if (bits > 8) {
            return v >>> (bits - 8);
        }
        return v * 255 / ((1 << bits) - 1);
    }
}
