package dev.skipjack.engine.model;

import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** torchvision's ResNet family by name, and the checks every architecture must pass before a graph is built. */
public final class Architectures {
    private Architectures() {}

    private static final Map<String, Architecture> KNOWN = new LinkedHashMap<>();

    static {
        put("resnet18", BlockType.BASIC, List.of(2, 2, 2, 2), 1, 64);
        put("resnet34", BlockType.BASIC, List.of(3, 4, 6, 3), 1, 64);
        put("resnet50", BlockType.BOTTLENECK, List.of(3, 4, 6, 3), 1, 64);
        put("resnet101", BlockType.BOTTLENECK, List.of(3, 4, 23, 3), 1, 64);
        put("resnet152", BlockType.BOTTLENECK, List.of(3, 8, 36, 3), 1, 64);
        put("resnext50_32x4d", BlockType.BOTTLENECK, List.of(3, 4, 6, 3), 32, 4);
        put("resnext101_32x8d", BlockType.BOTTLENECK, List.of(3, 4, 23, 3), 32, 8);
        put("resnext101_64x4d", BlockType.BOTTLENECK, List.of(3, 4, 23, 3), 64, 4);
        put("wide_resnet50_2", BlockType.BOTTLENECK, List.of(3, 4, 6, 3), 1, 128);
        put("wide_resnet101_2", BlockType.BOTTLENECK, List.of(3, 4, 23, 3), 1, 128);
    }

    private static void put(String name, BlockType block, List<Integer> stages, int groups, int widthPerGroup) {
        KNOWN.put(name, Architecture.newBuilder()
                .setName(name)
                .setBlock(block)
                .addAllStageBlocks(stages)
                .setGroups(groups)
                .setWidthPerGroup(widthPerGroup)
                .setNumClasses(1000)
                .build());
    }

    /** The names {@link #named} knows, in torchvision's order. */
    public static Set<String> names() {
        return KNOWN.keySet();
    }

    /** torchvision's architecture of that name with 1000 classes; IllegalArgumentException listing the known ones. */
    public static Architecture named(String name) {
        Architecture a = KNOWN.get(name);
        if (a == null) {
            throw new IllegalArgumentException("unknown architecture '" + name + "' (known: "
                    + String.join(", ", KNOWN.keySet()) + ")");
        }
        return a;
    }

    /**
     * Checks what torchvision itself would refuse or what the graph cannot represent; returns null if the
     * architecture is valid, else the reason.
     */
    public static String problem(Architecture a) {
        if (a.getBlock() != BlockType.BASIC && a.getBlock() != BlockType.BOTTLENECK) {
            return "block type " + a.getBlock() + " is not BASIC or BOTTLENECK";
        }
        if (a.getStageBlocksCount() != 4) {
            return "stage_blocks has " + a.getStageBlocksCount() + " entries, a ResNet has 4 stages";
        }
        for (int b : a.getStageBlocksList()) {
            if (b < 1 || b > 1000) {
                return "stage_blocks " + a.getStageBlocksList() + " must each be in [1, 1000]";
            }
        }
        if (a.getGroups() < 1 || a.getGroups() > 4096 || a.getWidthPerGroup() < 1 || a.getWidthPerGroup() > 4096) {
            return "groups " + a.getGroups() + " and width_per_group " + a.getWidthPerGroup()
                    + " must be in [1, 4096]";
        }
        if (a.getBlock() == BlockType.BASIC && (a.getGroups() != 1 || a.getWidthPerGroup() != 64)) {
            // torchvision: "BasicBlock only supports groups=1 and base_width=64".
            return "BASIC blocks need groups 1 and width_per_group 64, got " + a.getGroups() + " and "
                    + a.getWidthPerGroup();
        }
        if (a.getNumClasses() < 1 || a.getNumClasses() > 1 << 20) {
            return "num_classes " + a.getNumClasses() + " must be in [1, 2^20]";
        }
        if (a.getBlock() == BlockType.BOTTLENECK && ResNetGraph.bottleneckWidth(64, a) < 1) {
            return "width_per_group " + a.getWidthPerGroup() + " gives a bottleneck of no channels";
        }
        return null;
    }
}
