package dev.skipjack.engine.image;

import java.util.Objects;

/**
 * An 8-bit RGB image, what PIL calls mode "RGB": the form every decoded image is brought to before
 * preprocessing, so that resizing sees exactly the bytes PIL's would.
 *
 * @param width  columns, at least 1
 * @param height rows, at least 1
 * @param pixels {@code [height][width][3]} interleaved R, G, B, row-major (unsigned bytes)
 */
public record RgbImage(int width, int height, byte[] pixels) {
    public RgbImage {
        Objects.requireNonNull(pixels, "pixels");
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
        }
        if (pixels.length != Math.multiplyExact(Math.multiplyExact(width, height), 3)) {
            throw new IllegalArgumentException("a " + width + "x" + height + " RGB image needs "
                    + (long) width * height * 3 + " bytes, got " + pixels.length);
        }
    }

    /** Channel {@code c} (0 = R, 1 = G, 2 = B) of pixel (x, y) as 0..255. */
    public int get(int x, int y, int c) {
        return pixels[(y * width + x) * 3 + c] & 0xff;
    }
}
