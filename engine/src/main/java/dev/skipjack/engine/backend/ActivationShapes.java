package dev.skipjack.engine.backend;

import java.util.List;

/**
 * The shape of every value of one forward pass for one input shape: value {@code v} is float32
 * {@code [batch][channels(v)][height(v)][width(v)]} (height and width are 1 after the average pool).
 */
public final class ActivationShapes {
    private final int batch;
    private final int[] channels;
    private final int[] heights;
    private final int[] widths;

    /** Copies the arrays (indexed by value). */
    public ActivationShapes(int batch, int[] channels, int[] heights, int[] widths) {
        if (channels.length != heights.length || channels.length != widths.length) {
            throw new IllegalArgumentException("channels, heights and widths must have one entry per value");
        }
        this.batch = batch;
        this.channels = channels.clone();
        this.heights = heights.clone();
        this.widths = widths.clone();
    }

    /** Follows {@code layers} (in order) from an input of {@code [n][3][h][w]}. */
    public static ActivationShapes infer(List<Layer> layers, int n, int h, int w) {
        int values = 1;
        for (Layer l : layers) {
            values = Math.max(values, l.output() + 1);
        }
        int[] c = new int[values], hs = new int[values], ws = new int[values];
        c[0] = 3;
        hs[0] = h;
        ws[0] = w;
        for (Layer l : layers) {
            int i = l.input(), o = l.output();
            switch (l) {
                case Layer.Conv cv -> {
                    c[o] = cv.shape().cout();
                    hs[o] = cv.shape().outH(hs[i]);
                    ws[o] = cv.shape().outW(ws[i]);
                }
                case Layer.MaxPool p -> {
                    c[o] = c[i];
                    hs[o] = p.outSize(hs[i]);
                    ws[o] = p.outSize(ws[i]);
                }
                case Layer.AvgPool p -> {
                    c[o] = c[i];
                    hs[o] = 1;
                    ws[o] = 1;
                }
                case Layer.Fc f -> {
                    c[o] = f.outFeatures();
                    hs[o] = 1;
                    ws[o] = 1;
                }
            }
        }
        return new ActivationShapes(n, c, hs, ws);
    }

    public int batch() {
        return batch;
    }

    /** Number of values. */
    public int values() {
        return channels.length;
    }

    public int channels(int v) {
        return channels[v];
    }

    public int height(int v) {
        return heights[v];
    }

    public int width(int v) {
        return widths[v];
    }

    /** Floats of value {@code v}: {@code batch * channels * height * width}. */
    public long floats(int v) {
        return (long) batch * channels[v] * heights[v] * widths[v];
    }

    @Override
    public String toString() {
        return "[" + batch + "][3][" + heights[0] + "][" + widths[0] + "]";
    }
}
