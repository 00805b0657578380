package dev.skipjack.engine.model;

import dev.skipjack.engine.model.ResNetGraph.ConvLayer;
import dev.skipjack.format.ModelFile;
import dev.skipjack.format.ModelFormatException;
import dev.skipjack.format.Shapes;
import dev.skipjack.format.proto.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Checks a set of named tensors against a {@link ResNetGraph} and folds every batch norm into the convolution
 * before it. The tensors come from a mapped model file or from {@link SeededWeights}; both hand in raw
 * little-endian bytes.
 */
public final class WeightLoader {
    /** Batch norm's epsilon in torchvision's ResNets (nn.BatchNorm2d's default). */
    public static final double BN_EPS = 1e-5;

    private static final ValueLayout.OfFloat LE_FLOAT =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private WeightLoader() {}

    /** A named tensor: row-major shape, little-endian bytes. */
    public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {
        static Tensor of(ModelFile.Tensor t) {
            return new Tensor(t.name(), t.dtype(), t.shape(), t.data());
        }
    }

    /**
     * A convolution with its batch norm folded in. Layouts: weight {@code [cout][cin/groups][k][k]} (OIHW),
     * bias {@code [cout]}, float32 in native byte order, 64-byte aligned.
     */
    public record FoldedConv(ConvLayer layer, MemorySegment weight, MemorySegment bias) {}

    /** Everything the network needs: folded convolutions in {@link ResNetGraph#convs()} order and fc. */
    public record Weights(List<FoldedConv> convs, MemorySegment fcWeight, MemorySegment fcBias) {}

    /** The tensors of a model file by name. */
    public static Map<String, Tensor> tensorsOf(ModelFile file) {
        var m = new LinkedHashMap<String, Tensor>();
        for (ModelFile.Tensor t : file.tensors()) {
            m.put(t.name(), Tensor.of(t));
        }
        return m;
    }

    /**
     * Validates that {@code tensors} are exactly what {@code graph} needs (every expected tensor present as
     * float32 with its exact shape, nothing unexpected besides batch norm counters), then folds. Errors name
     * {@code origin} (the file), the tensor, and the expected and actual shapes.
     */
    public static Weights load(ResNetGraph graph, Map<String, Tensor> tensors, String origin, Arena arena)
            throws ModelFormatException {
        validate(graph, tensors, origin);
        var convs = new ArrayList<FoldedConv>(graph.convs().size());
        for (ConvLayer c : graph.convs()) {
            convs.add(fold(c, tensors, origin, arena));
        }
        requireFinite(tensors.get("fc.weight"), origin);
        requireFinite(tensors.get("fc.bias"), origin);
        return new Weights(convs, nativeOrder(tensors.get("fc.weight").data(), arena),
                nativeOrder(tensors.get("fc.bias").data(), arena));
    }

    static void validate(ResNetGraph graph, Map<String, Tensor> tensors, String origin) throws ModelFormatException {
        String arch = "architecture '" + graph.architecture().getName() + "'";
        Map<String, long[]> expected = graph.expectedTensors();
        for (var e : expected.entrySet()) {
            Tensor t = tensors.get(e.getKey());
            if (t == null) {
                throw new ModelFormatException(origin + ": missing tensor " + e.getKey() + " (expected shape "
                        + Shapes.format(e.getValue()) + " for " + arch + ")");
            }
            if (t.dtype() != DType.FLOAT32) {
                throw new ModelFormatException(origin + ": tensor " + e.getKey() + " has dtype " + t.dtype()
                        + ", expected FLOAT32");
            }
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new ModelFormatException(origin + ": tensor " + e.getKey() + " has shape "
                        + Shapes.format(t.shape()) + ", expected " + Shapes.format(e.getValue()) + " for " + arch);
            }
            if (t.data().byteSize() != Shapes.elementCount(e.getValue()) * Float.BYTES) {
                throw new ModelFormatException(origin + ": tensor " + e.getKey() + " holds " + t.data().byteSize()
                        + " bytes, its shape " + Shapes.format(e.getValue()) + " needs "
                        + Shapes.elementCount(e.getValue()) * Float.BYTES);
            }
        }
        for (String name : tensors.keySet()) {
            if (!expected.containsKey(name) && !graph.isIgnorable(name)) {
                // A tensor the graph has no place for means the file's architecture does not describe its
                // weights (say, resnet34 weights labelled resnet18): refuse rather than run a different network.
                throw new ModelFormatException(origin + ": unexpected tensor " + name + " (shape "
                        + Shapes.format(tensors.get(name).shape()) + "): " + arch + " has no such parameter");
            }
        }
    }

    /**
     * Folds batch norm into the convolution: {@code w' = w * s}, {@code b' = beta - mean * s} with
     * {@code s = gamma / sqrt(var + eps)} per output channel.
     *
     * <p>The scale and both products are computed in double and rounded to float once. PyTorch rounds after
     * the convolution and again after each batch norm operation; folding in float would add two roundings
     * (of s and of the product) to every weight, an error that deep networks amplify. Rounding the exact
     * product once keeps the folded weights within half an ulp of the true ones, so the folded network stays
     * at least as close to the float64 reference as PyTorch's unfolded float32 run.
     */
    static FoldedConv fold(ConvLayer c, Map<String, Tensor> tensors, String origin, SegmentAllocator arena)
            throws ModelFormatException {
        float[] gamma = floats(tensors.get(c.bn() + ".weight"));
        float[] beta = floats(tensors.get(c.bn() + ".bias"));
        float[] mean = floats(tensors.get(c.bn() + ".running_mean"));
        float[] var = floats(tensors.get(c.bn() + ".running_var"));
        MemorySegment src = tensors.get(c.conv() + ".weight").data();
        int perOut = (c.cin() / c.groups()) * c.kernel() * c.kernel();
        // [cout][cin/groups][k][k]
        MemorySegment weight = arena.allocate((long) c.cout() * perOut * Float.BYTES, 64);
        // [cout]
        MemorySegment bias = arena.allocate((long) c.cout() * Float.BYTES, 64);
        float[] row = new float[perOut];
        for (int o = 0; o < c.cout(); o++) {
            double v = (double) var[o] + BN_EPS;
            if (!(v > 0) || !Double.isFinite(v) || !Double.isFinite(gamma[o]) || !Double.isFinite(beta[o])
                    || !Double.isFinite(mean[o])) {
                throw new ModelFormatException(origin + ": batch norm " + c.bn() + " channel " + o
                        + " is not usable (weight " + gamma[o] + ", bias " + beta[o] + ", running_mean " + mean[o]
                        + ", running_var " + var[o] + ")");
            }
            double s = gamma[o] / Math.sqrt(v);
            MemorySegment.copy(src, LE_FLOAT, (long) o * perOut * Float.BYTES, row, 0, perOut);
            for (int i = 0; i < perOut; i++) {
                float folded = (float) (row[i] * s);
                if (!Float.isFinite(folded)) {
                    // A NaN or infinite weight would propagate into every logit: refuse it, naming where it is.
                    throw new ModelFormatException(origin + ": tensor " + c.conv() + ".weight has "
                            + (Float.isFinite(row[i]) ? "value " + row[i] + ", which batch norm " + c.bn()
                                    + " (scale " + s + ") folds into " + folded : "a non-finite value " + row[i])
                            + " at output channel " + o + ", element " + i);
                }
                row[i] = folded;
            }
            MemorySegment.copy(row, 0, weight, ValueLayout.JAVA_FLOAT, (long) o * perOut * Float.BYTES, perOut);
            float b = (float) (beta[o] - mean[o] * s);
            if (!Float.isFinite(b)) {
                throw new ModelFormatException(origin + ": batch norm " + c.bn() + " channel " + o
                        + " folds into a non-finite bias " + b + " (bias " + beta[o] + ", running_mean " + mean[o]
                        + ", scale " + s + ")");
            }
            bias.setAtIndex(ValueLayout.JAVA_FLOAT, o, b);
        }
        return new FoldedConv(c, weight, bias);
    }

    /** Refuses a tensor holding NaN or an infinity, naming it and the first such element. */
    static void requireFinite(Tensor t, String origin) throws ModelFormatException {
        long n = t.data().byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++) {
            float v = t.data().get(LE_FLOAT, i * Float.BYTES);
            if (!Float.isFinite(v)) {
                throw new ModelFormatException(origin + ": tensor " + t.name() + " " + Shapes.format(t.shape())
                        + " holds " + v + " at element " + i + "; weights must be finite");
            }
        }
    }

    private static float[] floats(Tensor t) {
        float[] a = new float[Math.toIntExact(t.data().byteSize() / Float.BYTES)];
        MemorySegment.copy(t.data(), LE_FLOAT, 0, a, 0, a.length);
        return a;
    }

    /** The little-endian floats as the kernels read them: in place where native order is little-endian. */
    static MemorySegment nativeOrder(MemorySegment le, Arena arena) {
        if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN && le.address() % Float.BYTES == 0) {
            return le;
        }
        long n = le.byteSize() / Float.BYTES;
        MemorySegment copy = arena.allocate(le.byteSize(), 64);
        for (long i = 0; i < n; i++) {
            copy.setAtIndex(ValueLayout.JAVA_FLOAT, i, le.get(LE_FLOAT, i * Float.BYTES));
        }
        return copy;
    }
}
