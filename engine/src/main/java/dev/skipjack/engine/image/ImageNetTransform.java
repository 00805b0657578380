package dev.skipjack.engine.image;

import java.util.Arrays;

/**
 * torchvision's evaluation transform for ImageNet models, on a PIL image:
 * {@code Resize(resize) -> CenterCrop(crop) -> ToTensor() -> Normalize(mean, std)}, computed the way
 * torchvision 0.14 and Pillow compute it (size rounding, resampling, crop offsets, float32 arithmetic),
 * so that the output tensor equals theirs for the same decoded pixels.
 *
 * @param resize the length the shorter side is resized to (256)
 * @param crop   the side of the square center crop (224)
 * @param mean   per-channel mean, RGB order
 * @param std    per-channel standard deviation, RGB order
 */
public record ImageNetTransform(int resize, int crop, float[] mean, float[] std) {
    /** torchvision's recipe for its ImageNet classifiers. */
    public static final ImageNetTransform IMAGENET = new ImageNetTransform(256, 224,
            new float[] {0.485f, 0.456f, 0.406f}, new float[] {0.229f, 0.224f, 0.225f});

    /** Largest crop side: {@code 3 * crop * crop} floats must fit an array. */
    public static final int MAX_CROP = 8192;
    /** Largest resize target; the resized image is also held to {@link ImageDecoder#maxPixels()}. */
    public static final int MAX_RESIZE = 65536;

    public ImageNetTransform {
        if (resize < 1 || crop < 1 || resize > MAX_RESIZE || crop > MAX_CROP) {
            throw new IllegalArgumentException("resize and crop must be in [1, " + MAX_RESIZE + "] and [1, "
                    + MAX_CROP + "], got " + resize + ", " + crop);
        }
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("mean and std need 3 entries (RGB), got " + mean.length + " and "
                    + std.length);
        }
        for (int c = 0; c < 3; c++) {
            if (!(std[c] > 0) || !Float.isFinite(std[c]) || !Float.isFinite(mean[c])) {
                throw new IllegalArgumentException("std must be positive and finite and mean finite, got mean "
                        + Arrays.toString(mean) + ", std " + Arrays.toString(std));
            }
        }
        mean = mean.clone();
        std = std.clone();
    }

    @Override
    public float[] mean() {
        return mean.clone();
    }

    @Override
    public float[] std() {
        return std.clone();
    }

    /** Floats one image becomes: 3 * crop * crop. */
    public int outputLength() {
        return 3 * crop * crop;
    }

    /** The transformed image, {@code [3][crop][crop]} (CHW, RGB). */
    public float[] apply(RgbImage image) {
        float[] out = new float[outputLength()];
        apply(image, out, 0);
        return out;
    }

    /**
     * Writes the transformed image, {@code [3][crop][crop]}, into {@code out} at {@code offset}. An image whose
     * resized size would exceed {@link ImageDecoder#maxPixels()} is an {@link IllegalArgumentException}.
     */
    public void apply(RgbImage image, float[] out, int offset) {
        apply(image, out, offset, ImageDecoder.maxPixels());
    }

    /** {@link #apply(RgbImage, float[], int)} with the resized image held to {@code maxPixels}. */
    void apply(RgbImage image, float[] out, int offset, long maxPixels) {
        RgbImage resized = resizeShorterSide(image, maxPixels);
        int w = resized.width();
        int h = resized.height();
        // torchvision's center_crop: pad with zeros (split as below) when the crop is larger, then round the
        // offsets with Python's round(), which rounds halves to even (Math.rint does the same).
        int padLeft = crop > w ? (crop - w) / 2 : 0;
        int padTop = crop > h ? (crop - h) / 2 : 0;
        int pw = w + (crop > w ? crop - w : 0);
        int ph = h + (crop > h ? crop - h : 0);
        int top = (int) Math.rint((ph - crop) / 2.0);
        int left = (int) Math.rint((pw - crop) / 2.0);
        int plane = crop * crop;
        for (int c = 0; c < 3; c++) {
            float m = mean[c];
            float s = std[c];
            for (int y = 0; y < crop; y++) {
                int sy = y + top - padTop;
                for (int x = 0; x < crop; x++) {
                    int sx = x + left - padLeft;
                    int v = sy >= 0 && sy < h && sx >= 0 && sx < w ? resized.get(sx, sy, c) : 0;
                    // ToTensor divides by 255 and Normalize subtracts then divides, all in float32.
                    out[offset + c * plane + y * crop + x] = (v / 255f - m) / s;
                }
            }
        }
    }

    /** torchvision's Resize(int) on a PIL image: shorter side to {@code resize}, the longer truncated. */
    RgbImage resizeShorterSide(RgbImage image) {
        return resizeShorterSide(image, ImageDecoder.maxPixels());
    }

    private RgbImage resizeShorterSide(RgbImage image, long limit) {
        int w = image.width();
        int h = image.height();
        int shorter = Math.min(w, h);
        int longer = Math.max(w, h);
        // Python's int(size * long / short): an exact integer product, a correctly rounded division, truncation.
        int newLong = (int) ((double) ((long) resize * longer) / shorter);
        int newW = w <= h ? resize : newLong;
        int newH = w <= h ? newLong : resize;
        // A 1 x 100000 image is small, but its shorter side resized to 256 is 6.5 gigapixels: bound what the
        // resize allocates as the decoder bounds what it decodes.
        if ((long) newW * newH > limit) {
            throw new IllegalArgumentException("a " + w + "x" + h + " image resized to shorter side " + resize
                    + " would be " + newW + "x" + newH + ", over the limit of " + limit + " pixels ("
                    + ImageDecoder.MAX_PIXELS_PROPERTY + ")");
        }
        return PilResize.resize(image, newW, newH);
    }
}
