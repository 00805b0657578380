package dev.skipjack.engine.model;

import dev.skipjack.engine.kernels.Conv2d;
import dev.skipjack.engine.kernels.ConvShape;
import dev.skipjack.engine.kernels.Linear;
import dev.skipjack.engine.model.ResNetGraph.ConvLayer;
import dev.skipjack.format.ModelFormatException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.Map;

/**
 * A {@link ResNetGraph} with its kernels: one {@link Conv2d} per convolution (batch norm folded, weights
 * packed into {@code arena}) and the {@link Linear} classifier. Immutable after construction; the kernels
 * serialize concurrent calls on themselves, so one network serves every execution context.
 */
public final class Network {
    private final ResNetGraph graph;
    private final Conv2d[] convs;
    private final Linear fc;
    private final ResNetGraph.Op[] ops;

    private Network(ResNetGraph graph, Conv2d[] convs, Linear fc) {
        this.graph = graph;
        this.convs = convs;
        this.fc = fc;
        this.ops = graph.ops().toArray(new ResNetGraph.Op[0]);
    }

    /**
     * Builds the kernels from folded weights. The kernels copy (pack) what they read, so {@code weights} may
     * live in a shorter-lived arena than {@code arena}.
     */
    public static Network build(ResNetGraph graph, WeightLoader.Weights weights, Arena arena) {
        Conv2d[] convs = new Conv2d[graph.convs().size()];
        for (int i = 0; i < convs.length; i++) {
            WeightLoader.FoldedConv f = weights.convs().get(i);
            convs[i] = new Conv2d(shapeOf(f.layer()), f.weight(), f.bias(), arena);
        }
        Linear fc = new Linear(graph.features(), graph.numClasses(), weights.fcWeight(), weights.fcBias(), arena);
        return new Network(graph, convs, fc);
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
        WeightLoader.validate(graph, tensors, origin);
        Conv2d[] convs = new Conv2d[graph.convs().size()];
        long largest = 0;
        for (ConvLayer c : graph.convs()) {
            largest = Math.max(largest, ((long) c.cout() * (c.cin() / c.groups()) * c.kernel() * c.kernel() + c.cout())
                    * Float.BYTES + 128);
        }
        // One buffer reused for every layer's folded copy: an arena per layer allocated (and zeroed) fresh
        // memory each time, and ResNet-50's load spent about a fifth of its preparation in page faults there.
        try (Arena folding = Arena.ofConfined()) {
            MemorySegment buffer = folding.allocate(largest, 64);
            for (int i = 0; i < convs.length; i++) {
                ConvLayer c = graph.convs().get(i);
                WeightLoader.FoldedConv f = WeightLoader.fold(c, tensors, origin,
                        SegmentAllocator.slicingAllocator(buffer));
                convs[i] = new Conv2d(shapeOf(c), f.weight(), f.bias(), arena);
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
        return new Network(graph, convs, fc);
    }

    static ConvShape shapeOf(ConvLayer l) {
        return new ConvShape(l.cin(), l.cout(), l.kernel(), l.stride(), l.pad(), l.groups());
    }

    public ResNetGraph graph() {
        return graph;
    }

    Conv2d conv(int layer) {
        return convs[layer];
    }

    Linear fc() {
        return fc;
    }

    /** The forward pass in execution order (the array is shared: do not modify). */
    ResNetGraph.Op[] ops() {
        return ops;
    }
}
