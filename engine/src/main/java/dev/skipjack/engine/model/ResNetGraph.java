package dev.skipjack.engine.model;

import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * torchvision's ResNet as a straight-line list of operations over numbered values, built from an
 * {@link Architecture} alone (no weights): what tensors the model file must hold, and in what order the
 * forward pass runs. Value 0 is the input {@code [n][3][h][w]}; every operation writes one new value.
 *
 * <p>Structure, as torchvision.models.resnet builds it: a 7x7/2 stem convolution (+ batch norm + ReLU), a
 * 3x3/2 max pool with padding 1, four stages of blocks with 64, 128, 256, 512 planes (stride 1 for the first
 * stage, 2 for the others, on the first block of a stage), adaptive average pooling to 1x1 and the fully
 * connected layer. A BasicBlock is 3x3 (stride) + 3x3; a Bottleneck is 1x1 + 3x3 (stride, groups) + 1x1 with
 * expansion 4 and width {@code int(planes * width_per_group / 64) * groups}. A block whose stride is not 1 or
 * whose channel count changes carries a downsample branch, a 1x1 convolution with the stride + batch norm.
 * The residual add and the ReLU after it are fused into the block's last convolution.
 */
public final class ResNetGraph {
    /** A convolution followed by its batch norm (torchvision's convolutions have no bias). */
    public record ConvLayer(String conv, String bn, int cin, int cout, int kernel, int stride, int pad, int groups) {
        /** Output size of one spatial dimension (dilation 1). */
        public int outSize(int size) {
            return (size + 2 * pad - kernel) / stride + 1;
        }

        /** {@code [cout][cin/groups][k][k]}, OIHW. */
        public long[] weightShape() {
            return new long[] {cout, cin / groups, kernel, kernel};
        }
    }

    /** One step of the forward pass. Values are indices; {@code residual} is -1 when there is none. */
    public sealed interface Op permits Conv, MaxPool, AvgPool, Fc {
        int input();

        int output();
    }

    /** {@code output = relu?(conv(input) + bias + residual?)}, with {@code layer} an index into {@link #convs()}. */
    public record Conv(int layer, int input, int output, int residual, boolean relu) implements Op {}

    /** 3x3, stride 2, padding 1. */
    public record MaxPool(int input, int output) implements Op {}

    /** Adaptive average pooling to 1x1 and flatten: {@code [n][c][h][w] -> [n][c]}. */
    public record AvgPool(int input, int output) implements Op {}

    /** The fully connected layer {@code fc}: {@code [n][features] -> [n][numClasses]}. */
    public record Fc(int input, int output) implements Op {}

    public static final int MAXPOOL_KERNEL = 3;
    public static final int MAXPOOL_STRIDE = 2;
    public static final int MAXPOOL_PAD = 1;

    private final Architecture architecture;
    private final List<ConvLayer> convs = new ArrayList<>();
    private final List<Op> ops = new ArrayList<>();
    private final int features;
    private int values = 1;

    private ResNetGraph(Architecture a) {
        this.architecture = a;
        int stem = addConv("conv1", "bn1", 3, 64, 7, 2, 3, 1);
        int x = emitConv(stem, 0, -1, true);
        int pooled = values++;
        ops.add(new MaxPool(x, pooled));
        x = pooled;
        boolean bottleneck = a.getBlock() == BlockType.BOTTLENECK;
        int expansion = bottleneck ? 4 : 1;
        int inplanes = 64;
        for (int stage = 0; stage < 4; stage++) {
            int planes = 64 << stage;
            for (int b = 0; b < a.getStageBlocks(stage); b++) {
                int stride = b == 0 && stage > 0 ? 2 : 1;
                String p = "layer" + (stage + 1) + "." + b + ".";
                int identity = x;
                if (stride != 1 || inplanes != planes * expansion) {
                    int ds = addConv(p + "downsample.0", p + "downsample.1", inplanes, planes * expansion, 1, stride,
                            0, 1);
                    identity = emitConv(ds, x, -1, false);
                }
                if (bottleneck) {
                    int width = bottleneckWidth(planes, a);
                    int c1 = addConv(p + "conv1", p + "bn1", inplanes, width, 1, 1, 0, 1);
                    int c2 = addConv(p + "conv2", p + "bn2", width, width, 3, stride, 1, a.getGroups());
                    int c3 = addConv(p + "conv3", p + "bn3", width, planes * 4, 1, 1, 0, 1);
                    int t = emitConv(c1, x, -1, true);
                    t = emitConv(c2, t, -1, true);
                    x = emitConv(c3, t, identity, true);
                } else {
                    int c1 = addConv(p + "conv1", p + "bn1", inplanes, planes, 3, stride, 1, 1);
                    int c2 = addConv(p + "conv2", p + "bn2", planes, planes, 3, 1, 1, 1);
                    int t = emitConv(c1, x, -1, true);
                    x = emitConv(c2, t, identity, true);
                }
                inplanes = planes * expansion;
            }
        }
        features = inplanes;
        int avg = values++;
        ops.add(new AvgPool(x, avg));
        ops.add(new Fc(avg, values++));
    }

    /** Builds the graph of a valid architecture (see {@link Architectures#problem}). */
    public static ResNetGraph of(Architecture a) {
        String problem = Architectures.problem(a);
        if (problem != null) {
            throw new IllegalArgumentException("invalid architecture '" + a.getName() + "': " + problem);
        }
        return new ResNetGraph(a);
    }

    /** torchvision's Bottleneck width: {@code int(planes * (base_width / 64.0)) * groups}. */
    static int bottleneckWidth(int planes, Architecture a) {
        return (int) (planes * (a.getWidthPerGroup() / 64.0)) * a.getGroups();
    }

    private int addConv(String conv, String bn, int cin, int cout, int k, int stride, int pad, int groups) {
        convs.add(new ConvLayer(conv, bn, cin, cout, k, stride, pad, groups));
        return convs.size() - 1;
    }

    private int emitConv(int layer, int input, int residual, boolean relu) {
        int out = values++;
        ops.add(new Conv(layer, input, out, residual, relu));
        return out;
    }

    public Architecture architecture() {
        return architecture;
    }

    /** Every convolution (with its batch norm), in the order the forward pass first uses them. */
    public List<ConvLayer> convs() {
        return Collections.unmodifiableList(convs);
    }

    /** The forward pass, in execution order. */
    public List<Op> ops() {
        return Collections.unmodifiableList(ops);
    }

    /** Number of values (value 0 is the input, the last is the logits). */
    public int valueCount() {
        return values;
    }

    /** Channels entering the fully connected layer (512 * expansion). */
    public int features() {
        return features;
    }

    public int numClasses() {
        return architecture.getNumClasses();
    }

    /**
     * Every float32 tensor the model file must hold, name to shape, in state_dict order per layer.
     * ({@code num_batches_tracked} is optional and unused: see {@link #isIgnorable}.)
     */
    public Map<String, long[]> expectedTensors() {
        var m = new LinkedHashMap<String, long[]>();
        for (ConvLayer c : convs) {
            m.put(c.conv() + ".weight", c.weightShape());
            for (String s : new String[] {".weight", ".bias", ".running_mean", ".running_var"}) {
                m.put(c.bn() + s, new long[] {c.cout()});
            }
        }
        m.put("fc.weight", new long[] {numClasses(), features});
        m.put("fc.bias", new long[] {numClasses()});
        return m;
    }

    /** Tensors a checkpoint may carry that inference never reads: batch norm's update counters. */
    public boolean isIgnorable(String name) {
        if (!name.endsWith(".num_batches_tracked")) {
            return false;
        }
        String bn = name.substring(0, name.length() - ".num_batches_tracked".length());
        for (ConvLayer c : convs) {
            if (c.bn().equals(bn)) {
                return true;
            }
        }
        return false;
    }

    /** Direct-convolution FLOPs (2 per multiply-add) of the convolutions and the fully connected layer. */
    public long flops(int n, int h, int w) {
        long total = 0;
        int[] hs = new int[values];
        int[] ws = new int[values];
        hs[0] = h;
        ws[0] = w;
        for (Op op : ops) {
            switch (op) {
                case Conv c -> {
                    ConvLayer l = convs.get(c.layer());
                    int oh = l.outSize(hs[c.input()]);
                    int ow = l.outSize(ws[c.input()]);
                    hs[c.output()] = oh;
                    ws[c.output()] = ow;
                    total += 2L * n * l.cout() * oh * ow * (l.cin() / l.groups()) * l.kernel() * l.kernel();
                }
                case MaxPool p -> {
                    hs[p.output()] = (hs[p.input()] + 2 * MAXPOOL_PAD - MAXPOOL_KERNEL) / MAXPOOL_STRIDE + 1;
                    ws[p.output()] = (ws[p.input()] + 2 * MAXPOOL_PAD - MAXPOOL_KERNEL) / MAXPOOL_STRIDE + 1;
                }
                case AvgPool p -> {
                    hs[p.output()] = 1;
                    ws[p.output()] = 1;
                }
                case Fc f -> total += 2L * n * features * numClasses();
            }
        }
        return total;
    }
}
