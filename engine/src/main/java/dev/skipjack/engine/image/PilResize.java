package dev.skipjack.engine.image;

/**
 * PIL's {@code Image.resize(size, BILINEAR)} on an 8-bit RGB image, reproduced to the bit: a separable
 * convolution with a triangle filter whose support widens with the downscale factor (PIL's antialiasing),
 * weights normalised in double then turned into 22-bit fixed point, a horizontal pass rounded to uint8, then
 * a vertical pass over those bytes. Matching the intermediate uint8 rounding is what makes the result equal
 * to torchvision's on PIL images rather than merely close (a float resize differs by up to a grey level).
 */
final class PilResize {
    /** PIL's 8-bit fixed point: 32 bits minus 8 for the pixel minus 2 for the sign and headroom. */
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private PilResize() {}

    /** Per output pixel: first input index, number of taps, and ksize fixed-point weights. */
    private record Coefficients(int ksize, int[] first, int[] count, int[] weights) {}

    static RgbImage resize(RgbImage in, int outW, int outH) {
        if (outW < 1 || outH < 1) {
            throw new IllegalArgumentException("resize target must be positive, got " + outW + "x" + outH);
        }
        if (outW == in.width() && outH == in.height()) {
            return in;
        }
        RgbImage cur = in;
        // PIL runs the horizontal pass first and only the passes whose size changes.
        if (outW != cur.width()) {
            cur = horizontal(cur, outW, coefficients(cur.width(), outW));
        }
        if (outH != cur.height()) {
            cur = vertical(cur, outH, coefficients(cur.height(), outH));
        }
        return cur;
    }

    private static double triangle(double x) {
        x = Math.abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /** PIL's precompute_coeffs + normalize_coeffs_8bpc for the box [0, inSize). */
    private static Coefficients coefficients(int inSize, int outSize) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = 1.0 * filterScale; // the triangle's support is 1
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        int[] weights = new int[outSize * ksize];
        double[] k = new double[ksize];
        double ss = 1.0 / filterScale;
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            // C's (int) cast truncates toward zero, as Java's does.
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) {
                xmin = 0;
            }
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) {
                xmax = inSize;
            }
            xmax -= xmin;
            double ww = 0.0;
            for (int x = 0; x < xmax; x++) {
                double w = triangle((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++) {
                double w = ww != 0.0 ? k[x] / ww : k[x];
                double fixed = w * (1 << PRECISION_BITS);
                weights[xx * ksize + x] = (int) (w < 0 ? fixed - 0.5 : fixed + 0.5);
            }
            first[xx] = xmin;
            count[xx] = xmax;
        }
        return new Coefficients(ksize, first, count, weights);
    }

    private static int clip8(int v) {
        if (v >= (1 << PRECISION_BITS << 8)) {
            return 255;
        }
        if (v <= 0) {
            return 0;
        }
        return v >> PRECISION_BITS;
    }

    private static RgbImage horizontal(RgbImage in, int outW, Coefficients c) {
        int inW = in.width();
        int h = in.height();
        byte[] src = in.pixels();
        byte[] dst = new byte[outW * h * 3];
        for (int y = 0; y < h; y++) {
            int rowIn = y * inW * 3;
            int rowOut = y * outW * 3;
            for (int xx = 0; xx < outW; xx++) {
                int xmin = c.first()[xx];
                int n = c.count()[xx];
                int kOff = xx * c.ksize();
                int r = 1 << (PRECISION_BITS - 1);
                int g = r;
                int b = r;
                for (int x = 0; x < n; x++) {
                    int k = c.weights()[kOff + x];
                    int p = rowIn + (xmin + x) * 3;
                    r += (src[p] & 0xff) * k;
                    g += (src[p + 1] & 0xff) * k;
                    b += (src[p + 2] & 0xff) * k;
                }
                int o = rowOut + xx * 3;
                dst[o] = (byte) clip8(r);
                dst[o + 1] = (byte) clip8(g);
                dst[o + 2] = (byte) clip8(b);
            }
        }
        return new RgbImage(outW, h, dst);
    }

    private static RgbImage vertical(RgbImage in, int outH, Coefficients c) {
        int w = in.width();
        byte[] src = in.pixels();
        byte[] dst = new byte[w * outH * 3];
        int stride = w * 3;
        for (int yy = 0; yy < outH; yy++) {
            int ymin = c.first()[yy];
            int n = c.count()[yy];
            int kOff = yy * c.ksize();
            for (int i = 0; i < stride; i++) {
                int s = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < n; y++) {
                    s += (src[(ymin + y) * stride + i] & 0xff) * c.weights()[kOff + y];
                }
                dst[yy * stride + i] = (byte) clip8(s);
            }
        }
        return new RgbImage(w, outH, dst);
    }
}
