package dev.skipjack.engine.model;

import dev.skipjack.engine.backend.ActivationShapes;
import dev.skipjack.engine.backend.Layer;
import dev.skipjack.engine.kernels.ConvKernel;
import dev.skipjack.engine.runtime.Parallel;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a forward pass spends its time: every layer of a network timed inside whole passes on the CPU kernels,
 * after passes have warmed the JIT (see {@link CpuBackend#timeInPasses}), so that the times add up to a pass.
 * For tuning and for {@code ./skipjack bench --layers}; an inference never calls it.
 */
public final class LayerProfile {
    /** Whole passes timed, layer by layer. */
    public static final int PASSES = 15;

    private LayerProfile() {}

    /**
     * One layer's measurement.
     *
     * @param name    torchvision's module name (conv1, layer1.0.conv2, maxpool, fc, ...)
     * @param what    the operation and its geometry, e.g. "conv 3x3/1 64->64 56x56 WINOGRAD"
     * @param flops   direct-convolution FLOPs (2 per multiply-add), 0 for pooling
     * @param seconds the median over {@link #PASSES} passes of the layer's time inside a pass
     * @param fused   the modules this layer computes besides its own (a downsample fused into it), by name
     */
    public record Entry(String name, String what, long flops, double seconds, List<String> fused) {
        /** A layer computing no other module. */
        public Entry(String name, String what, long flops, double seconds) {
            this(name, what, flops, seconds, List.of());
        }
    }

    /** Times each layer of {@code network} on {@code [n][3][h][w]} with the threads of {@code parallel}. */
    public static List<Entry> measure(Network network, Parallel parallel, int n, int h, int w) {
        List<Layer> layers = Layers.of(network);
        ActivationShapes shapes = ActivationShapes.infer(layers, n, h, w);
        CpuBackend cpu = new CpuBackend(network, parallel);
        double[] seconds = cpu.timeInPasses(layers, shapes, PASSES);
        var out = new ArrayList<Entry>();
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            int in = l.input();
            int hi = shapes.height(in), wi = shapes.width(in);
            String what;
            long flops = 0;
            List<String> fused = List.of();
            switch (l) {
                case Layer.Conv cv -> {
                    var s = cv.shape();
                    flops = s.flops(n, hi, wi);
                    int conv = network.convIndex(cv);
                    ConvKernel kernel = network.conv(conv);
                    what = "conv " + s.kernel() + "x" + s.kernel() + "/" + s.stride() + " " + s.cin() + "->" + s.cout()
                            + (s.groups() > 1 ? " g" + s.groups() : "") + " " + hi + "x" + wi + " ";
                    var p = kernel.projection();
                    if (p != null) { // and the downsample fused into it, which reads the residual value
                        int r = cv.residual();
                        flops += p.flops(n, shapes.height(r), shapes.width(r));
                        what += "+ 1x1/" + p.stride() + " " + p.cin() + "->" + p.cout() + " " + shapes.height(r) + "x"
                                + shapes.width(r) + " ";
                        fused = List.of(network.graph().convs().get(network.projectionOf(conv)).conv());
                    }
                    what += kernel.algorithm();
                }
                case Layer.MaxPool p -> what = "maxpool " + p.kernel() + "x" + p.kernel() + "/" + p.stride() + " "
                        + shapes.channels(in) + "ch " + hi + "x" + wi;
                case Layer.AvgPool p -> what = "avgpool " + shapes.channels(in) + "ch " + hi + "x" + wi;
                case Layer.Fc f -> {
                    flops = 2L * n * f.inFeatures() * f.outFeatures();
                    what = "fc " + f.inFeatures() + "->" + f.outFeatures();
                }
            }
            out.add(new Entry(l.name(), what, flops, seconds[i], fused));
        }
        return out;
    }
}
