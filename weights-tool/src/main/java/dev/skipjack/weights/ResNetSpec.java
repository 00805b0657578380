package dev.skipjack.weights;

import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A torchvision ResNet-family network (torchvision.models.resnet.ResNet): enough to list every tensor of its
 * state_dict with its exact shape.
 *
 * @param name          torchvision's name ("resnet50", ...) or "custom"
 * @param stageBlocks   blocks in each of the four stages (layer1..layer4)
 * @param groups        cardinality of the bottleneck's 3x3 convolution (1 for plain ResNets)
 * @param widthPerGroup channels per group of that convolution (64 for plain ResNets)
 */
public record ResNetSpec(String name, BlockType block, int[] stageBlocks, int groups, int widthPerGroup,
        int numClasses) {

    public static final String CUSTOM = "custom";

    /** torchvision's named models, as (block, stages, groups, width per group); all have 1000 classes there. */
    private static final Map<String, ResNetSpec> KNOWN = new LinkedHashMap<>();

    static {
        known("resnet18", BlockType.BASIC, new int[] {2, 2, 2, 2}, 1, 64);
        known("resnet34", BlockType.BASIC, new int[] {3, 4, 6, 3}, 1, 64);
        known("resnet50", BlockType.BOTTLENECK, new int[] {3, 4, 6, 3}, 1, 64);
        known("resnet101", BlockType.BOTTLENECK, new int[] {3, 4, 23, 3}, 1, 64);
        known("resnet152", BlockType.BOTTLENECK, new int[] {3, 8, 36, 3}, 1, 64);
        known("resnext50_32x4d", BlockType.BOTTLENECK, new int[] {3, 4, 6, 3}, 32, 4);
        known("resnext101_32x8d", BlockType.BOTTLENECK, new int[] {3, 4, 23, 3}, 32, 8);
        known("resnext101_64x4d", BlockType.BOTTLENECK, new int[] {3, 4, 23, 3}, 64, 4);
        known("wide_resnet50_2", BlockType.BOTTLENECK, new int[] {3, 4, 6, 3}, 1, 128);
        known("wide_resnet101_2", BlockType.BOTTLENECK, new int[] {3, 4, 23, 3}, 1, 128);
    }

    private static void known(String name, BlockType block, int[] stages, int groups, int widthPerGroup) {
        KNOWN.put(name, new ResNetSpec(name, block, stages, groups, widthPerGroup, 1000));
    }

    public ResNetSpec {
        stageBlocks = stageBlocks.clone();
        if (stageBlocks.length != 4) {
            throw new IllegalArgumentException("a ResNet has 4 stages, got " + stageBlocks.length);
        }
    }

    @Override
    public int[] stageBlocks() {
        return stageBlocks.clone();
    }

    /** Names accepted by {@code --arch}. */
    public static List<String> knownNames() {
        return List.copyOf(KNOWN.keySet());
    }

    /** The named torchvision model with {@code numClasses} outputs, or an error listing the known names. */
    public static ResNetSpec named(String name, int numClasses) throws CheckpointException {
        ResNetSpec s = KNOWN.get(name);
        if (s == null) {
            throw new CheckpointException("unknown architecture '" + Allowlist.printable(name) + "' (known: "
                    + String.join(", ", KNOWN.keySet()) + ")");
        }
        return new ResNetSpec(name, s.block, s.stageBlocks, s.groups, s.widthPerGroup, numClasses);
    }

    /** The known name with this block, depth and widths, or {@link #CUSTOM}. */
    static String nameOf(BlockType block, int[] stages, int groups, int widthPerGroup) {
        for (ResNetSpec s : KNOWN.values()) {
            if (s.block == block && Arrays.equals(s.stageBlocks, stages) && s.groups == groups
                    && s.widthPerGroup == widthPerGroup) {
                return s.name;
            }
        }
        return CUSTOM;
    }

    int expansion() {
        return block == BlockType.BOTTLENECK ? 4 : 1;
    }

    /** The shape and kind of one expected tensor. */
    record Expected(long[] shape, boolean integer, boolean optional) {}

    /**
     * Every tensor of torchvision's state_dict for this network, in its order. Convolution weights are OIHW.
     * {@code num_batches_tracked} is optional: checkpoints from before PyTorch 0.4.1 (among them torchvision's
     * own original ImageNet weights) do not have it, and inference does not use it.
     */
    Map<String, Expected> expectedTensors() {
        var m = new LinkedHashMap<String, Expected>();
        conv(m, "conv1", 64, 3, 7);
        bn(m, "bn1", 64);
        long inplanes = 64;
        for (int s = 0; s < 4; s++) {
            long planes = 64L << s;
            int stride = s == 0 ? 1 : 2;
            long out = planes * expansion();
            for (int b = 0; b < stageBlocks[s]; b++) {
                String p = "layer" + (s + 1) + "." + b + ".";
                if (block == BlockType.BOTTLENECK) {
                    // torchvision: width = int(planes * (width_per_group / 64.)) * groups
                    long width = planes * widthPerGroup / 64 * groups;
                    conv(m, p + "conv1", width, inplanes, 1);
                    bn(m, p + "bn1", width);
                    conv(m, p + "conv2", width, width / groups, 3);
                    bn(m, p + "bn2", width);
                    conv(m, p + "conv3", out, width, 1);
                    bn(m, p + "bn3", out);
                } else {
                    conv(m, p + "conv1", planes, inplanes, 3);
                    bn(m, p + "bn1", planes);
                    conv(m, p + "conv2", planes, planes, 3);
                    bn(m, p + "bn2", planes);
                }
                if (b == 0 && (stride != 1 || inplanes != out)) {
                    conv(m, p + "downsample.0", out, inplanes, 1);
                    bn(m, p + "downsample.1", out);
                }
                inplanes = out;
            }
        }
        m.put("fc.weight", new Expected(new long[] {numClasses, 512L * expansion()}, false, false));
        m.put("fc.bias", new Expected(new long[] {numClasses}, false, false));
        return m;
    }

    private static void conv(Map<String, Expected> m, String prefix, long out, long in, int k) {
        m.put(prefix + ".weight", new Expected(new long[] {out, in, k, k}, false, false));
    }

    private static void bn(Map<String, Expected> m, String prefix, long channels) {
        for (String t : new String[] {"weight", "bias", "running_mean", "running_var"}) {
            m.put(prefix + "." + t, new Expected(new long[] {channels}, false, false));
        }
        m.put(prefix + ".num_batches_tracked", new Expected(new long[0], true, true));
    }

    /** For the model file header. */
    public Architecture toArchitecture() {
        var b = Architecture.newBuilder().setName(name).setBlock(block).setGroups(groups)
                .setWidthPerGroup(widthPerGroup).setNumClasses(numClasses);
        for (int n : stageBlocks) {
            b.addStageBlocks(n);
        }
        return b.build();
    }

    /** "resnet50 (bottleneck [3, 4, 6, 3], 1000 classes)" */
    public String describe() {
        String widths = groups != 1 || widthPerGroup != 64 ? ", groups " + groups + " x width " + widthPerGroup : "";
        return name + " (" + block.name().toLowerCase(java.util.Locale.ROOT) + " " + Arrays.toString(stageBlocks)
                + widths + ", " + numClasses + " classes)";
    }

    /**
     * Checks the checkpoint's tensors against {@link #expectedTensors()}: each present (unless optional) with
     * its exact shape and a fitting dtype, none unexpected. Throws naming the first problem, with the count of
     * the others.
     */
    void validate(String file, Map<String, TensorRef> tensors) throws CheckpointException {
        List<String> problems = new ArrayList<>();
        Map<String, Expected> expected = expectedTensors();
        for (Map.Entry<String, Expected> e : expected.entrySet()) {
            String n = e.getKey();
            Expected x = e.getValue();
            TensorRef t = tensors.get(n);
            if (t == null) {
                if (!x.optional()) {
                    problems.add("missing tensor " + n + " (expected shape " + Arrays.toString(x.shape()) + ")");
                }
            } else if (!Arrays.equals(t.shape(), x.shape())) {
                problems.add("tensor " + n + " has shape " + Arrays.toString(t.shape()) + ", expected "
                        + Arrays.toString(x.shape()));
            } else if (x.integer() == t.storage().type().floatingPoint) {
                problems.add("tensor " + n + " has dtype " + t.storage().type().dtypeName + ", expected "
                        + (x.integer() ? "an integer dtype" : "a floating-point dtype"));
            }
        }
        for (Map.Entry<String, TensorRef> e : tensors.entrySet()) {
            if (!expected.containsKey(e.getKey())) {
                problems.add("unexpected tensor " + Allowlist.printable(e.getKey()) + " with shape "
                        + Arrays.toString(e.getValue().shape()));
            }
        }
        if (!problems.isEmpty()) {
            throw new CheckpointException(file + ": " + problems.getFirst() + " for " + describe()
                    + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more problems)" : ""));
        }
    }
}
