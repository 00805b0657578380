package dev.skipjack.engine.model;

import dev.skipjack.engine.model.ResNetGraph.ConvLayer;
import dev.skipjack.engine.model.WeightLoader.Tensor;
import dev.skipjack.format.Shapes;
import dev.skipjack.format.proto.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random but reproducible weights for a graph, built in memory: the same seed gives the same bits on every
 * JVM. Used to benchmark without a model file. Each tensor draws from its own generator seeded by the seed
 * and the tensor's name, so tensors do not depend on the order they are made in.
 *
 * <p>The distributions keep activations in a realistic range through 150 layers: Kaiming-uniform
 * convolutions (variance-preserving under ReLU), batch norms with non-trivial statistics (mean near 0,
 * variance in [0.5, 1.5], gamma in [0.5, 1.0]), and a smaller gamma on the last batch norm of each block, as
 * trained ResNets have, so the residual stream does not double in variance at every block.
 */
public final class SeededWeights {
    private static final ValueLayout.OfFloat LE_FLOAT =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private SeededWeights() {}

    /** All tensors {@link ResNetGraph#expectedTensors()} names, allocated in {@code arena}. */
    public static Map<String, Tensor> create(ResNetGraph graph, long seed, Arena arena) {
        var last = new java.util.HashSet<String>();
        for (ResNetGraph.Op op : graph.ops()) {
            if (op instanceof ResNetGraph.Conv c && c.residual() >= 0) {
                last.add(graph.convs().get(c.layer()).bn());
            }
        }
        var out = new LinkedHashMap<String, Tensor>();
        for (var e : graph.expectedTensors().entrySet()) {
            String name = e.getKey();
            long[] shape = e.getValue();
            int count = Math.toIntExact(Shapes.elementCount(shape));
            var rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
            float[] v = new float[count];
            String bn = name.substring(0, name.lastIndexOf('.'));
            if (name.endsWith(".running_var")) {
                fill(v, rnd, 0.5, 1.5);
            } else if (name.endsWith(".running_mean")) {
                fill(v, rnd, -0.1, 0.1);
            } else if (name.equals("fc.weight") || name.equals("fc.bias")) {
                double a = 1.0 / Math.sqrt(graph.features());
                fill(v, rnd, -a, a);
            } else if (isBn(graph, bn) && name.endsWith(".weight")) {
                if (last.contains(bn)) {
                    fill(v, rnd, 0.1, 0.3);
                } else {
                    fill(v, rnd, 0.5, 1.0);
                }
            } else if (isBn(graph, bn) && name.endsWith(".bias")) {
                fill(v, rnd, -0.1, 0.1);
            } else {
                // A convolution weight [cout][cin/groups][k][k]: Kaiming uniform with gain sqrt(2).
                long fanIn = shape[1] * shape[2] * shape[3];
                double a = Math.sqrt(6.0 / fanIn);
                fill(v, rnd, -a, a);
            }
            MemorySegment seg = arena.allocate((long) count * Float.BYTES, 64);
            MemorySegment.copy(v, 0, seg, LE_FLOAT, 0, count);
            out.put(name, new Tensor(name, DType.FLOAT32, shape, seg));
        }
        return out;
    }

    private static boolean isBn(ResNetGraph graph, String prefix) {
        for (ConvLayer c : graph.convs()) {
            if (c.bn().equals(prefix)) {
                return true;
            }
        }
        return false;
    }

    private static void fill(float[] v, SplittableRandom rnd, double lo, double hi) {
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        }
    }
}
