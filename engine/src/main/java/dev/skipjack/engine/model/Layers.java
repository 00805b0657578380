package dev.skipjack.engine.model;

import dev.skipjack.engine.backend.Layer;
import dev.skipjack.engine.kernels.ConvShape;
import dev.skipjack.engine.model.ResNetGraph.AvgPool;
import dev.skipjack.engine.model.ResNetGraph.Conv;
import dev.skipjack.engine.model.ResNetGraph.ConvLayer;
import dev.skipjack.engine.model.ResNetGraph.Fc;
import dev.skipjack.engine.model.ResNetGraph.MaxPool;
import dev.skipjack.engine.model.ResNetGraph.Op;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** The forward pass as the backends see it: each operation of the graph with its torchvision name and weights. */
public final class Layers {
    private Layers() {}

    /**
     * One {@link Layer} per operation of {@code graph}, in order; convolution and classifier weights are the
     * folded ones of {@code weights} (valid as long as they are), or {@link MemorySegment#NULL} when
     * {@code weights} is null (for backends that already hold their weights, like the CPU's kernels).
     */
    public static List<Layer> of(ResNetGraph graph, WeightLoader.Weights weights) {
        return of(graph, graph.ops(), weights);
    }

    /**
     * The forward pass as {@code network}'s CPU kernels run it, without weights: its {@link Network#ops} (a
     * downsample fused into a block's last convolution is no layer of its own, and that convolution's residual is
     * the downsample's input).
     */
    public static List<Layer> of(Network network) {
        return of(network.graph(), List.of(network.ops()), null);
    }

    private static List<Layer> of(ResNetGraph graph, List<Op> ops, WeightLoader.Weights weights) {
        var out = new ArrayList<Layer>();
        for (int i = 0; i < ops.size(); i++) {
            Layer l = switch (ops.get(i)) {
                case Conv c -> {
                    ConvLayer cl = graph.convs().get(c.layer());
                    WeightLoader.FoldedConv f = weights == null ? null : weights.convs().get(c.layer());
                    yield new Layer.Conv(i, cl.conv(), c.input(), c.output(), c.residual(), c.relu(),
                            new ConvShape(cl.cin(), cl.cout(), cl.kernel(), cl.stride(), cl.pad(), cl.groups()),
                            f == null ? MemorySegment.NULL : f.weight(), f == null ? MemorySegment.NULL : f.bias());
                }
                case MaxPool p -> new Layer.MaxPool(i, "maxpool", p.input(), p.output(), ResNetGraph.MAXPOOL_KERNEL,
                        ResNetGraph.MAXPOOL_STRIDE, ResNetGraph.MAXPOOL_PAD);
                case AvgPool p -> new Layer.AvgPool(i, "avgpool", p.input(), p.output());
                case Fc f -> new Layer.Fc(i, "fc", f.input(), f.output(), graph.features(), graph.numClasses(),
                        weights == null ? MemorySegment.NULL : weights.fcWeight(),
                        weights == null ? MemorySegment.NULL : weights.fcBias());
            };
            out.add(l);
        }
        return out;
    }
}
