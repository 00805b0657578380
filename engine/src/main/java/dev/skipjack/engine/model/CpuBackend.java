package dev.skipjack.engine.model;

import dev.skipjack.engine.backend.ActivationShapes;
import dev.skipjack.engine.backend.Backend;
import dev.skipjack.engine.backend.Layer;
import dev.skipjack.engine.backend.Step;
import dev.skipjack.engine.kernels.ConvKernel;
import dev.skipjack.engine.kernels.GlobalAvgPool;
import dev.skipjack.engine.kernels.MaxPool2d;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * The Vector API kernels of a {@link Network} as a {@link Backend}: the default for every layer and the
 * fallback whenever an accelerator is missing. Its steps run over the plan's host buffers and the pool.
 */
public final class CpuBackend implements Backend {
    // The auto profile's measurement of one layer: whole forward passes first (at least 2 and WARMUP_NANOS, at
    // most MAX_WARMUP_PASSES) so the JIT has compiled the kernels, then per layer WARMUP_RUNS calls and the best
    // of TIMED_RUNS (the least disturbed by whatever else the machine runs).
    private static final long WARMUP_NANOS = 1_000_000_000;
    private static final int MAX_WARMUP_PASSES = 20;
    private static final int WARMUP_RUNS = 2;
    private static final int TIMED_RUNS = 5;

    private final Network network;
    private final Parallel parallel;
    private boolean warmedUp;

    /** @param parallel the model's pool (used here only by {@link #time}; steps use the one of their activations) */
    public CpuBackend(Network network, Parallel parallel) {
        this.network = network;
        this.parallel = parallel;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String device() {
        if (parallel == null) {
            return "the model's thread pool";
        }
        return parallel.threads() + (parallel.threads() == 1 ? " thread" : " threads");
    }

    @Override
    public String unsupported(Layer layer) {
        return null;
    }

    /**
     * The layers of {@code run} one after the other, with every size they need resolved now so that running
     * them only indexes arrays.
     */
    @Override
    public Step compile(List<Layer> run, ActivationShapes shapes, boolean[] onHost) {
        return compile(run, shapes, (Layer) null);
    }

    /**
     * As {@link #compile(List, ActivationShapes, boolean[])}, with the layer that runs after the last of {@code run}
     * (null if none or not on the CPU): while the pool's threads wait at the end of a layer, they read the weights
     * of the one after it ({@link Parallel#readWhileIdle}).
     */
    private Step compile(List<Layer> run, ActivationShapes shapes, Layer following) {
        int m = run.size();
        Layer[] layers = run.toArray(new Layer[0]);
        int[] c = new int[m], h = new int[m], w = new int[m];
        for (int t = 0; t < m; t++) {
            int in = layers[t].input();
            c[t] = shapes.channels(in);
            h[t] = shapes.height(in);
            w[t] = shapes.width(in);
        }
        int n = shapes.batch();
        // each residual's height and width (a fused downsample's input is larger than the output at stride 2)
        int[] rh = new int[m], rw = new int[m];
        for (int t = 0; t < m; t++) {
            if (layers[t] instanceof Layer.Conv cv && cv.residual() >= 0) {
                rh[t] = shapes.height(cv.residual());
                rw[t] = shapes.width(cv.residual());
            }
        }
        MemorySegment[] next = new MemorySegment[m];
        for (int t = 0; t < m; t++) {
            next[t] = weights(t + 1 < m ? layers[t + 1] : following);
        }
        return acts -> {
            Parallel par = acts.parallel();
            for (int t = 0; t < m; t++) {
                par.readWhileIdle(next[t]);
                forward(layers[t], acts, n, c[t], h[t], w[t], rh[t], rw[t], par);
            }
            par.readWhileIdle(null);
        };
    }

    /** The weights {@code layer} reads (see {@link ConvKernel#weights}), or null. */
    private MemorySegment weights(Layer layer) {
        return switch (layer) {
            case null -> null;
            case Layer.Conv cv -> network.conv(network.convIndex(cv)).weights();
            case Layer.Fc f -> network.fc().weights();
            default -> null;
        };
    }

    private void forward(Layer layer, Step.Activations acts, int n, int c, int h, int w, int rh, int rw,
                         Parallel par) {
        MemorySegment src = acts.value(layer.input());
        MemorySegment dst = acts.value(layer.output());
        switch (layer) {
            case Layer.Conv cv -> network.conv(network.convIndex(cv)).forward(src, dst,
                    cv.residual() < 0 ? null : acts.value(cv.residual()), rh, rw, cv.relu(), n, h, w, acts.scratch(),
                    par);
            case Layer.MaxPool p -> {
                if (network.channelsLast(p.input())) {
                    MaxPool2d.forwardChannelsLast(src, dst, n, c, h, w, p.kernel(), p.stride(), p.pad(), par);
                } else {
                    MaxPool2d.forward(src, dst, n, c, h, w, p.kernel(), p.stride(), p.pad(), par);
                }
            }
            case Layer.AvgPool p -> {
                if (network.channelsLast(p.input())) {
                    GlobalAvgPool.forwardChannelsLast(src, dst, n, c, h, w, par);
                } else {
                    GlobalAvgPool.forward(src, dst, n, c, h, w, par);
                }
            }
            case Layer.Fc f -> network.fc().forward(src, dst, n, par);
        }
    }

    @Override
    public double time(Layer layer, ActivationShapes shapes) {
        if (!warmedUp) {
            warmUp(shapes);
        }
        int in = layer.input();
        // Shared: the pool's worker threads read and write these buffers.
        try (Arena arena = Arena.ofShared()) {
            long scratch = layer instanceof Layer.Conv cv ? scratchBytes(cv, shapes) : 64;
            Step.Activations acts = activations(arena, shapes, v -> v == in || layer.reads(v) || v == layer.output(),
                    scratch);
            int n = shapes.batch(), c = shapes.channels(in), h = shapes.height(in), w = shapes.width(in);
            int r0 = layer instanceof Layer.Conv cv && cv.residual() >= 0 ? cv.residual() : in;
            int rh = shapes.height(r0), rw = shapes.width(r0);
            for (int r = 0; r < WARMUP_RUNS; r++) {
                forward(layer, acts, n, c, h, w, rh, rw, parallel);
            }
            long best = Long.MAX_VALUE;
            for (int r = 0; r < TIMED_RUNS; r++) {
                long t0 = System.nanoTime();
                forward(layer, acts, n, c, h, w, rh, rw, parallel);
                best = Math.min(best, System.nanoTime() - t0);
            }
            return best * 1e-9;
        }
    }

    /**
     * Each of {@code layers} (a whole network, in order) timed inside whole forward passes: {@code passes}
     * passes after the warm-up, each running the layers one by one and timing each; per layer the median over
     * the passes, in seconds. Unlike {@link #time}, a layer then meets its weights and inputs where an inference
     * leaves them (at batch 1 a network's weights come from memory on every pass, while one layer called again
     * and again finds them in cache) and the per-layer times add up to a pass.
     */
    public double[] timeInPasses(List<Layer> layers, ActivationShapes shapes, int passes) {
        if (passes < 1) {
            throw new IllegalArgumentException("passes must be >= 1, got " + passes);
        }
        int m = layers.size();
        Step[] steps = new Step[m];
        for (int i = 0; i < m; i++) {
            steps[i] = compile(List.of(layers.get(i)), shapes, i + 1 < m ? layers.get(i + 1) : null);
        }
        long[][] nanos = new long[m][passes];
        try (Arena arena = Arena.ofShared()) {
            Step.Activations acts = activations(arena, shapes, v -> true, maxScratchBytes(layers, shapes));
            if (!warmedUp) {
                warmUp(compile(layers, shapes, new boolean[shapes.values()]), acts);
            }
            // The layer-by-layer loop itself, untimed, as long as the warm-up, so that what the JIT still has to
            // compile is compiled before the timing: its steps are new code, and after a deoptimization the
            // kernels are too (before Simd.preloadHeapSegmentClasses, bench --layers --onnx met one: ONNX
            // Runtime's logits compared through an array segment, and the 3x3/2 max pool timed at 4-11 ms
            // instead of 0.2; with this loop the layers summed to the whole pass again).
            warmUp(a -> {
                for (Step step : steps) {
                    step.run(a);
                }
            }, acts);
            for (int r = 0; r < passes; r++) {
                for (int i = 0; i < m; i++) {
                    long t0 = System.nanoTime();
                    steps[i].run(acts);
                    nanos[i][r] = System.nanoTime() - t0;
                }
            }
        }
        double[] median = new double[m];
        for (int i = 0; i < m; i++) {
            Arrays.sort(nanos[i]);
            median[i] = nanos[i][passes / 2] * 1e-9;
        }
        return median;
    }

    /**
     * Runs the whole forward pass at {@code shapes} a few times before the first measurement: until the JIT has
     * compiled the kernels, a layer runs interpreted, orders of magnitude slower, and the kernels are shared by
     * every layer of their kind.
     */
    private void warmUp(ActivationShapes shapes) {
        List<Layer> all = Layers.of(network);
        try (Arena arena = Arena.ofShared()) {
            Step.Activations acts = activations(arena, shapes, v -> true, maxScratchBytes(all, shapes));
            warmUp(compile(all, shapes, new boolean[shapes.values()]), acts);
        }
    }

    /** The warm-up's passes of {@code pass} (the whole network, in one step or layer by layer) over {@code acts}. */
    private void warmUp(Step pass, Step.Activations acts) {
        long start = System.nanoTime();
        for (int r = 0; r < MAX_WARMUP_PASSES && (r < 2 || System.nanoTime() - start < WARMUP_NANOS); r++) {
            pass.run(acts);
        }
        warmedUp = true;
    }

    /** The largest scratch any convolution of {@code layers} needs at {@code shapes} (at least 64 bytes). */
    private long maxScratchBytes(List<Layer> layers, ActivationShapes shapes) {
        long scratch = 64;
        for (Layer l : layers) {
            if (l instanceof Layer.Conv cv) {
                scratch = Math.max(scratch, scratchBytes(cv, shapes));
            }
        }
        return scratch;
    }

    private long scratchBytes(Layer.Conv layer, ActivationShapes shapes) {
        int in = layer.input();
        return network.conv(network.convIndex(layer)).scratchBytes(shapes.batch(), shapes.height(in), shapes.width(in),
                parallel.threads());
    }

    /**
     * Buffers in {@code arena} for the values {@code include} accepts, filled with values in [0.25, 0.75] (no NaNs
     * or denormals, and not all equal).
     */
    private Step.Activations activations(Arena arena, ActivationShapes shapes, IntPredicate include, long scratch) {
        var values = new MemorySegment[shapes.values()];
        for (int v = 0; v < values.length; v++) {
            if (include.test(v)) {
                // one pixel more: a channels-last value's zero pixel (see Network)
                long floats = shapes.floats(v) + shapes.channels(v);
                values[v] = arena.allocate(Math.max(64, floats * Float.BYTES), 64);
                for (long i = 0; i < shapes.floats(v); i++) {
                    values[v].setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.5f + 0.25f * (float) Math.sin(i * 0.37));
                }
            }
        }
        MemorySegment scratchSegment = arena.allocate(Math.max(64, scratch), 64);
        Parallel pool = parallel;
        return new Step.Activations() {
            @Override
            public MemorySegment value(int v) {
                return values[v];
            }

            @Override
            public MemorySegment scratch() {
                return scratchSegment;
            }

            @Override
            public Parallel parallel() {
                return pool;
            }
        };
    }

    /** Nothing to release: the kernels belong to the model. */
    @Override
    public void close() {}
}
