package dev.skipjack.engine.model;

import dev.skipjack.engine.backend.ActivationShapes;
import dev.skipjack.engine.backend.BufferAssignment;
import dev.skipjack.engine.backend.Dispatch;
import dev.skipjack.engine.backend.Step;
import dev.skipjack.engine.kernels.ConvKernel;
import dev.skipjack.engine.kernels.ConvShape;
import dev.skipjack.engine.kernels.Simd;
import dev.skipjack.engine.model.ResNetGraph.AvgPool;
import dev.skipjack.engine.model.ResNetGraph.Conv;
import dev.skipjack.engine.model.ResNetGraph.ConvLayer;
import dev.skipjack.engine.model.ResNetGraph.Fc;
import dev.skipjack.engine.model.ResNetGraph.MaxPool;
import dev.skipjack.engine.model.ResNetGraph.Op;
import java.util.ArrayList;
import java.util.Arrays;

/**
 * The memory plan of one forward pass for one input shape {@code [n][3][h][w]}: the shape of every value,
 * which buffer holds it, how big each buffer and the kernels' scratch must be. Computed once per shape and
 * cached; running it touches no allocator.
 *
 * <p>Buffers are assigned by liveness: walking the operations in order, a value takes the lowest-numbered
 * buffer whose previous value is no longer read, so an operation never writes a buffer it reads (a residual
 * included). A ResNet needs four buffers this way (a block's input, its two intermediates and the downsampled
 * identity); each is sized to the largest value it ever holds.
 */
public final class Plan {
    final int n;
    final int h;
    final int w;
    final int threads;
    // Per value: channels, height, width ([n][c][h][w]; after the average pool h = w = 1).
    final int[] channels;
    final int[] heights;
    final int[] widths;
    // Per value: index of the buffer that holds it.
    final int[] bufferOf;
    // Per buffer: bytes, a multiple of 64.
    final long[] bufferBytes;
    // Bytes of scratch the largest convolution needs (shared: one convolution runs at a time).
    final long scratchBytes;
    final int outputValue;
    // What runs: one step per run of consecutive layers on one backend (the model's dispatch decides which).
    Step[] steps;

    private Plan(Network net, int n, int h, int w, int threads) {
        this.n = n;
        this.h = h;
        this.w = w;
        this.threads = threads;
        ResNetGraph g = net.graph();
        int values = g.valueCount();
        channels = new int[values];
        heights = new int[values];
        widths = new int[values];
        channels[0] = 3;
        heights[0] = h;
        widths[0] = w;
        Op[] ops = net.ops();
        int[] lastUse = new int[values];
        Arrays.fill(lastUse, -1);
        long scratch = 0;
        for (int i = 0; i < ops.length; i++) {
            Op op = ops[i];
            int in = op.input();
            int out = op.output();
            lastUse[in] = i;
            switch (op) {
                case Conv c -> {
                    ConvLayer l = g.convs().get(c.layer());
                    if (channels[in] != l.cin()) {
                        throw new IllegalStateException(l.conv() + " expects " + l.cin() + " channels, gets "
                                + channels[in]);
                    }
                    channels[out] = l.cout();
                    heights[out] = l.outSize(heights[in]);
                    widths[out] = l.outSize(widths[in]);
                    ConvKernel kernel = net.conv(c.layer());
                    if (c.residual() >= 0) {
                        int r = c.residual();
                        lastUse[r] = i;
                        ConvShape p = kernel.projection(); // a fused downsample's: its input is the residual
                        if (p == null ? channels[r] != l.cout() || heights[r] != heights[out] || widths[r] != widths[out]
                                : channels[r] != p.cin() || p.outH(heights[r]) != heights[out]
                                || p.outW(widths[r]) != widths[out]) {
                            throw new IllegalStateException(l.conv() + ": residual shape does not match its output");
                        }
                    }
                    scratch = Math.max(scratch, kernel.scratchBytes(n, heights[in], widths[in], threads));
                }
                case MaxPool p -> {
                    channels[out] = channels[in];
                    heights[out] = poolOut(heights[in]);
                    widths[out] = poolOut(widths[in]);
                }
                case AvgPool p -> {
                    channels[out] = channels[in];
                    heights[out] = 1;
                    widths[out] = 1;
                }
                case Fc f -> {
                    channels[out] = g.numClasses();
                    heights[out] = 1;
                    widths[out] = 1;
                }
            }
        }
        outputValue = ops[ops.length - 1].output();
        lastUse[outputValue] = ops.length;
        scratchBytes = Simd.align64(scratch);

        bufferOf = new int[values];
        var holder = new ArrayList<Integer>(); // buffer -> value it holds now
        var sizes = new ArrayList<Long>();
        // The input is written before the first operation.
        assign(0, -1, lastUse, holder, sizes);
        for (int i = 0; i < ops.length; i++) {
            assign(ops[i].output(), i, lastUse, holder, sizes);
        }
        bufferBytes = sizes.stream().mapToLong(Long::longValue).toArray();
    }

    private void assign(int value, int step, int[] lastUse, ArrayList<Integer> holder, ArrayList<Long> sizes) {
        // The step's own inputs stay taken: a buffer frees only once its value's last reader ran before this step.
        // One pixel more than the value: a channels-last value is followed by a pixel of zeros (see Network).
        long bytes = Simd.align64((floats(value) + channels[value]) * Float.BYTES);
        bufferOf[value] = BufferAssignment.take(value, step, bytes, lastUse, holder,
                sizes);
    }

    private static int poolOut(int size) {
        return (size + 2 * ResNetGraph.MAXPOOL_PAD - ResNetGraph.MAXPOOL_KERNEL) / ResNetGraph.MAXPOOL_STRIDE + 1;
    }

    /** The plan for {@code [n][3][h][w]} on a pool of {@code threads}, every layer on the CPU. */
    public static Plan create(Network net, int n, int h, int w, int threads) {
        return create(net, Dispatch.allOn(new CpuBackend(net, null), Layers.of(net)), n, h, w, threads);
    }

    /**
     * The plan for {@code [n][3][h][w]} on a pool of {@code threads}, each layer on the backend {@code dispatch}
     * chose for it; IllegalArgumentException if it cannot run.
     */
    public static Plan create(Network net, Dispatch dispatch, int n, int h, int w, int threads) {
        if (n < 1 || h < 1 || w < 1) {
            throw new IllegalArgumentException("input shape must be positive, got n=" + n + " h=" + h + " w=" + w);
        }
        Plan p = new Plan(net, n, h, w, threads);
        for (int v = 0; v < p.channels.length; v++) {
            // Kernels index planes and batches with int arithmetic in places: keep every tensor below 2^31 floats.
            if (p.floats(v) > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("input [" + n + "][3][" + h + "][" + w + "] is too large: an "
                        + "activation of " + p.floats(v) + " floats exceeds the 2^31 - 1 limit");
            }
        }
        // The one place the backends enter a plan: the dispatch turns its per-layer choice into steps.
        p.steps = dispatch.steps(new ActivationShapes(n, p.channels, p.heights, p.widths));
        return p;
    }

    /** Floats of value {@code v}: {@code n * c * h * w}. */
    long floats(int v) {
        return (long) n * channels[v] * heights[v] * widths[v];
    }

    boolean matches(int n, int h, int w) {
        return this.n == n && this.h == h && this.w == w;
    }

    /** Number of activation buffers. */
    public int bufferCount() {
        return bufferBytes.length;
    }

    /** Total bytes of activation buffers plus scratch one execution context holds for this plan. */
    public long totalBytes() {
        long t = scratchBytes;
        for (long b : bufferBytes) {
            t += b;
        }
        return t;
    }

    /** Shape of value {@code v} as {@code [n, c, h, w]} (for tests and diagnostics). */
    public int[] shapeOf(int v) {
        return new int[] {n, channels[v], heights[v], widths[v]};
    }

    /** The buffer holding value {@code v} (for tests and diagnostics). */
    public int bufferOf(int v) {
        return bufferOf[v];
    }
}
