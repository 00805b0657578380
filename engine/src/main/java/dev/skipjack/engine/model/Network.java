package dev.skipjack.engine.model;

import dev.skipjack.engine.backend.Layer;
import dev.skipjack.engine.kernels.Conv2d;
import dev.skipjack.engine.kernels.ConvKernel;
import dev.skipjack.engine.kernels.ConvNhwc;
import dev.skipjack.engine.kernels.ConvShape;
import dev.skipjack.engine.kernels.Kernels;
import dev.skipjack.engine.kernels.Linear;
import dev.skipjack.engine.kernels.ProjectedConvNhwc;
import dev.skipjack.engine.kernels.StemConv;
import dev.skipjack.engine.kernels.WinogradNhwc;
import dev.skipjack.engine.model.ResNetGraph.ConvLayer;
import dev.skipjack.format.ModelFormatException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@link ResNetGraph} with its kernels: one {@link ConvKernel} per convolution (batch norm folded, weights
 * packed into {@code arena}) and the {@link Linear} classifier. Immutable after construction; the kernels
 * serialize concurrent calls on themselves, so one network serves every execution context.
 *
 * <p>Layouts: the network's input is NCHW; from the stem's output on every value is channels-last (the stem a
 * {@link StemConv}, then the channels-last max pool; see {@link #channelsLastValues}). Channels-last convolutions are
 * {@link WinogradNhwc} (3x3 stride 1, see {@link #winogradTile}) or {@link ConvNhwc}, and their values
 * channels-last up to the average pool. Where some convolution of that part cannot run channels-last (grouped,
 * as ResNeXt's, or with a channel count the kernel's vectors do not divide), or {@code -Dskipjack.conv.nhwc=false}
 * is set, or the network is built from folded weights for an accelerator (whose layers exchange NCHW values),
 * everything is NCHW.
 */
public final class Network {
    /** Whether the later stages may run channels-last; see the class comment. */
    static final boolean NHWC = !"false".equals(System.getProperty("skipjack.conv.nhwc"));

    /** Whether a bottleneck's downsample may be fused into its last convolution ({@link #projections}). */
    static final boolean FUSE_PROJECTIONS = !"false".equals(System.getProperty("skipjack.conv.fuseProjections"));

    private final ResNetGraph graph;
    // Per convolution its kernel (a ProjectedConvNhwc where a downsample is fused in, see projections); null for
    // a downsample fused into another.
    private final ConvKernel[] convs;
    private final int[] projectionOf;
    private final Linear fc;
    private final ResNetGraph.Op[] ops;
    private final boolean[] channelsLast;

    private Network(ResNetGraph graph, ConvKernel[] convs, int[] projectionOf, Linear fc, boolean[] channelsLast) {
        this.graph = graph;
        this.convs = convs;
        this.projectionOf = projectionOf.clone();
        this.fc = fc;
        this.ops = fusedOps(graph, projectionOf);
        this.channelsLast = channelsLast;
    }

    /**
     * Builds the kernels from folded weights, all NCHW (the layout an accelerator's layers exchange). The kernels
     * copy (pack) what they read, so {@code weights} may live in a shorter-lived arena than {@code arena}.
     */
    public static Network build(ResNetGraph graph, WeightLoader.Weights weights, Arena arena) {
        ConvKernel[] convs = new ConvKernel[graph.convs().size()];
        for (int i = 0; i < convs.length; i++) {
            WeightLoader.FoldedConv f = weights.convs().get(i);
            convs[i] = new Conv2d(shapeOf(f.layer()), f.weight(), f.bias(), arena);
        }
        Linear fc = new Linear(graph.features(), graph.numClasses(), weights.fcWeight(), weights.fcBias(), arena);
        return new Network(graph, convs, noProjections(graph), fc, new boolean[graph.valueCount()]);
    }

    private static int[] noProjections(ResNetGraph graph) {
        int[] none = new int[graph.convs().size()];
        Arrays.fill(none, -1);
        return none;
    }

    /**
     * Per convolution, the downsample fused into it, else -1: where every value from the stem on is channels-last
     * ({@code nhwc}), a bottleneck block's downsample (a 1x1 convolution of the block's input, the residual of the
     * block's last convolution and read by nothing else) goes into that last 1x1 convolution where
     * {@link ProjectedConvNhwc#supports} it: one layer computing both, which never writes the downsample's output.
     * The pair alone, both kernels against the fused one, two threads, weights hot (Ice Lake Xeon): ResNet-50's four
     * at batch 1 0.88, 0.88, 0.88-0.92 and 1.02-1.06 of the time, at batch 8 0.74, 0.87 and 0.85 (the 7x7 one).
     * {@code -Dskipjack.conv.fuseProjections=false} turns it off.
     */
    static int[] projections(ResNetGraph g, boolean[] nhwc) {
        int[] of = noProjections(g);
        List<ResNetGraph.Op> ops = g.ops();
        for (ResNetGraph.Op op : ops) {
            if (!(op instanceof ResNetGraph.Conv last) || last.residual() < 0) {
                continue;
            }
            int readers = 0;
            ResNetGraph.Conv producer = null;
            for (ResNetGraph.Op o : ops) {
                if (o.input() == last.residual() || o instanceof ResNetGraph.Conv c && c.residual() == last.residual()) {
                    readers++;
                }
                if (o.output() == last.residual() && o instanceof ResNetGraph.Conv c) {
                    producer = c;
                }
            }
            if (producer != null && readers == 1 && !producer.relu() && producer.residual() < 0
                    && nhwc[producer.input()] && nhwc[last.input()] && nhwc[last.output()]
                    && ProjectedConvNhwc.supports(shapeOf(g.convs().get(last.layer())),
                            shapeOf(g.convs().get(producer.layer())))) {
                of[last.layer()] = producer.layer();
            }
        }
        return of;
    }

    /**
     * The graph's operations with each fused downsample left out and the convolution it went into reading the
     * downsample's input in the residual's place.
     */
    private static ResNetGraph.Op[] fusedOps(ResNetGraph g, int[] projectionOf) {
        boolean[] fused = fusedAway(projectionOf);
        ResNetGraph.Conv[] opOf = convOps(g);
        var out = new ArrayList<ResNetGraph.Op>();
        for (ResNetGraph.Op op : g.ops()) {
            if (op instanceof ResNetGraph.Conv c && fused[c.layer()]) {
                continue;
            }
            if (op instanceof ResNetGraph.Conv c && projectionOf[c.layer()] >= 0) {
                int x = opOf[projectionOf[c.layer()]].input();
                out.add(new ResNetGraph.Conv(c.layer(), c.input(), c.output(), x, c.relu()));
            } else {
                out.add(op);
            }
        }
        return out.toArray(new ResNetGraph.Op[0]);
    }

    /** Per convolution, whether it is fused into another ({@code projectionOf} names it). */
    private static boolean[] fusedAway(int[] projectionOf) {
        boolean[] fused = new boolean[projectionOf.length];
        for (int p : projectionOf) {
            if (p >= 0) {
                fused[p] = true;
            }
        }
        return fused;
    }

    /** Per convolution, the graph's operation that runs it. */
    private static ResNetGraph.Conv[] convOps(ResNetGraph g) {
        ResNetGraph.Conv[] opOf = new ResNetGraph.Conv[g.convs().size()];
        for (ResNetGraph.Op op : g.ops()) {
            if (op instanceof ResNetGraph.Conv c) {
                opOf[c.layer()] = c;
            }
        }
        return opOf;
    }

    /**
     * Per value, whether it is channels-last ([n][h][w][c] followed by one pixel of zeros): every value from the
     * stem's output on, if all the convolutions can run channels-last (else none). Measured against starting at
     * the first stage's output (the stem, max pool and first stage NCHW, the next layers reading NCHW through a
     * transposing pass): ResNet-18 12% and ResNet-50 6% faster from the stem (bench/README.md, session 8).
     */
    static boolean[] channelsLastValues(ResNetGraph g, boolean enabled) {
        boolean[] nhwc = new boolean[g.valueCount()];
        // On 8-float vectors (AVX2) too: at 256 bits on this machine ResNet-18 ran 16% and ResNet-50 15% faster
        // channels-last than NCHW (two engines alternating). Before the channels-last Winograd, NCHW Winograd
        // won there for BasicBlock networks.
        if (!enabled) {
            return nhwc;
        }
        for (ResNetGraph.Op op : g.ops()) {
            if (op instanceof ResNetGraph.Conv c) {
                if (!ConvNhwc.supports(shapeOf(g.convs().get(c.layer())))) {
                    return new boolean[g.valueCount()];
                }
                nhwc[c.output()] = true;
            } else if (op instanceof ResNetGraph.MaxPool p) {
                nhwc[p.output()] = true;
            }
        }
        return nhwc;
    }

    /**
     * The kernel of a convolution for the layouts {@code nhwc}: see {@link #kernelFor}.
     */
    private static ConvKernel kernel(ResNetGraph g, ResNetGraph.Conv op, boolean[] nhwc, MemorySegment weight,
                                     MemorySegment bias, Arena arena) {
        ConvLayer l = g.convs().get(op.layer());
        Layouts layouts = !nhwc[op.output()] ? Layouts.NCHW
                : nhwc[op.input()] ? Layouts.NHWC : Layouts.NCHW_TO_NHWC;
        return kernelFor(shapeOf(l), layouts, weight, bias, arena);
    }

    /** The layouts a convolution reads and writes (see {@link #kernelFor}). */
    public enum Layouts {
        /** channels-last in and out: the stages after the stem */
        NHWC,
        /** an NCHW input into channels-last: the stem */
        NCHW_TO_NHWC,
        /** NCHW in and out (where the network runs without channels-last values) */
        NCHW
    }

    /**
     * The kernel the engine runs for a convolution of {@code shape} with these layouts, its weights packed into
     * {@code arena}: from channels-last to channels-last a {@link WinogradNhwc} (3x3 stride-1, output tile by
     * {@link #winogradTile}) or {@link ConvNhwc}; the stem a {@link StemConv}; NCHW a {@link Conv2d}. Public so
     * that the kernel benchmarks time what a network runs.
     *
     * @param weight [cout][cin / groups][k][k] float32, batch norm folded in
     * @param bias   [cout] float32
     */
    public static ConvKernel kernelFor(ConvShape shape, Layouts layouts, MemorySegment weight, MemorySegment bias,
                                       Arena arena) {
        return switch (layouts) {
            case NHWC -> {
                int m = winogradTile(shape);
                yield m > 0 ? new WinogradNhwc(shape, m, weight, bias, arena)
                        : new ConvNhwc(shape, weight, bias, arena);
            }
            case NCHW_TO_NHWC -> new StemConv(shape, weight, bias, arena);
            case NCHW -> new Conv2d(shape, weight, bias, arena);
        };
    }

    /**
     * Which channels-last 3x3 stride-1 convolutions run as {@link WinogradNhwc}, and with which output tile:
     * "cin=m" pairs in increasing cin, the first pair whose cin is at least the layer's applies; m = 0, or no
     * pair, is the direct {@link ConvNhwc}. Chained as in a pass (three copies of each ResNet shape, weights out
     * of cache, 2 threads, ms against the direct kernel): 128 channels at 28x28 F(4x4) 0.51-0.58 against
     * 0.75-0.90 (F(2x2) 0.61-0.70); 256 at 14x14 F(2x2) 0.57-0.68 against 0.70-0.85 (F(4x4) 0.80-1.0: its
     * 4x4 tiles cover 16x16 and its transformed weights are 4 times the weights); 512 at 7x7 direct 0.75-0.90
     * (F(2x2) 1.2-1.4: 16.8 MB of transformed weights per layer to stream). The property is for experiments.
     */
    static final String WINOGRAD_TILES = System.getProperty("skipjack.conv.winogradNhwc", "128=4,256=2");

    /** The output tile of the channels-last Winograd for {@code s}, 0 for the direct convolution. */
    static int winogradTile(ConvShape s) {
        if (!WinogradNhwc.supports(s) || WINOGRAD_TILES.isBlank()) {
            return 0;
        }
        for (String pair : WINOGRAD_TILES.split(",")) {
            String[] kv = pair.split("=");
            if (s.cin() <= Integer.parseInt(kv[0].trim())) {
                return Integer.parseInt(kv[1].trim());
            }
        }
        return 0;
    }

    /**
     * Validates {@code tensors} against {@code graph} (see {@link WeightLoader#load}), then folds and packs one
     * convolution at a time: each folded copy lives in one buffer (the size of the largest convolution) only
     * until its kernel has packed it, so loading never holds the folded weights of the whole network next to
     * the packed ones. The tensors are read, never kept: they may be released once this returns.
     *
     * @param origin the file (or "seeded NAME") that errors name
     */
    public static Network build(ResNetGraph graph, Map<String, WeightLoader.Tensor> tensors, String origin,
            Arena arena) throws ModelFormatException {
        return build(graph, tensors, origin, arena, NHWC);
    }

    /** {@link #build(ResNetGraph, Map, String, Arena)}, channels-last where it can be only if {@code channelsLast}. */
    static Network build(ResNetGraph graph, Map<String, WeightLoader.Tensor> tensors, String origin, Arena arena,
            boolean channelsLast) throws ModelFormatException {
        return build(graph, tensors, origin, arena, channelsLast, FUSE_PROJECTIONS);
    }

    /** As above, with the downsamples fused ({@link #projections}) where they can be only if {@code fuse}. */
    static Network build(ResNetGraph graph, Map<String, WeightLoader.Tensor> tensors, String origin, Arena arena,
            boolean channelsLast, boolean fuse) throws ModelFormatException {
        WeightLoader.validate(graph, tensors, origin);
        boolean[] nhwc = channelsLastValues(graph, channelsLast);
        ResNetGraph.Conv[] opOf = convOps(graph);
        ConvKernel[] convs = new ConvKernel[graph.convs().size()];
        int[] projectionOf = fuse ? projections(graph, nhwc) : noProjections(graph);
        boolean[] fusedAway = fusedAway(projectionOf);
        long largest = 0;
        for (ConvLayer c : graph.convs()) {
            largest = Math.max(largest, ((long) c.cout() * (c.cin() / c.groups()) * c.kernel() * c.kernel() + c.cout())
                    * Float.BYTES + 128);
        }
        // One buffer reused for every layer's folded copy: an arena per layer allocated (and zeroed) fresh
        // memory each time, and ResNet-50's load spent about a fifth of its preparation in page faults there.
        try (Arena folding = Arena.ofConfined()) {
            MemorySegment buffer = folding.allocate(largest, 64);
            MemorySegment second = null; // a fused downsample's folded copy, beside its convolution's
            for (int i = 0; i < convs.length; i++) {
                ConvLayer c = graph.convs().get(i);
                if (fusedAway[i]) { // folded (and checked) with the convolution it went into
                    continue;
                }
                WeightLoader.FoldedConv f = WeightLoader.fold(c, tensors, origin,
                        SegmentAllocator.slicingAllocator(buffer));
                int p = projectionOf[i];
                if (p >= 0) {
                    if (second == null) {
                        second = folding.allocate(largest, 64);
                    }
                    ConvLayer d = graph.convs().get(p);
                    WeightLoader.FoldedConv fd = WeightLoader.fold(d, tensors, origin,
                            SegmentAllocator.slicingAllocator(second));
                    convs[i] = new ProjectedConvNhwc(shapeOf(c), f.weight(), f.bias(), shapeOf(d), fd.weight(),
                            fd.bias(), arena);
                } else {
                    convs[i] = kernel(graph, opOf[i], nhwc, f.weight(), f.bias(), arena);
                }
            }
        }
        WeightLoader.Tensor fcWeight = tensors.get("fc.weight");
        WeightLoader.Tensor fcBias = tensors.get("fc.bias");
        WeightLoader.requireFinite(fcWeight, origin);
        WeightLoader.requireFinite(fcBias, origin);
        Linear fc;
        try (Arena folding = Arena.ofConfined()) {
            fc = new Linear(graph.features(), graph.numClasses(), WeightLoader.nativeOrder(fcWeight.data(), folding),
                    WeightLoader.nativeOrder(fcBias.data(), folding), arena);
        }
        return new Network(graph, convs, projectionOf, fc, nhwc);
    }

    static ConvShape shapeOf(ConvLayer l) {
        return new ConvShape(l.cin(), l.cout(), l.kernel(), l.stride(), l.pad(), l.groups());
    }

    public ResNetGraph graph() {
        return graph;
    }

    /**
     * The kernel of convolution {@code layer}: with the downsample fused in where there is one ({@link #projectionOf},
     * its {@link ConvKernel#projection}); null for a downsample fused into another.
     */
    ConvKernel conv(int layer) {
        return convs[layer];
    }

    /** The convolution a layer of {@link Layers#of(Network)} runs: that of the operation at its position in {@link #ops}. */
    int convIndex(Layer.Conv layer) {
        return ((ResNetGraph.Conv) ops[layer.index()]).layer();
    }

    /** The convolution fused into convolution {@code layer} ({@link #projections}), else -1. */
    int projectionOf(int layer) {
        return projectionOf[layer];
    }

    /** Whether value {@code v} is channels-last, [n][h][w][c] followed by a pixel of zeros (else NCHW). */
    public boolean channelsLast(int v) {
        return channelsLast[v];
    }

    /** The kernel families this network runs: channels-last from the stem on, or NCHW throughout. */
    public Set<Kernels.Family> kernelFamilies() {
        for (boolean last : channelsLast) {
            if (last) {
                return EnumSet.of(Kernels.Family.CHANNELS_LAST);
            }
        }
        return EnumSet.of(Kernels.Family.NCHW);
    }

    Linear fc() {
        return fc;
    }

    /**
     * The forward pass in execution order (the array is shared: do not modify): the graph's, less the downsamples
     * fused into a block's last convolution, whose {@link ResNetGraph.Conv#residual} is then the downsample's input
     * (see {@link #projections}).
     */
    ResNetGraph.Op[] ops() {
        return ops;
    }
}
