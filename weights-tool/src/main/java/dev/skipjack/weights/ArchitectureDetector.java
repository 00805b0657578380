package dev.skipjack.weights;

import dev.skipjack.format.proto.BlockType;
import java.util.Arrays;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Infers a {@link ResNetSpec} from a state_dict's names and shapes alone:
 * <ul>
 *   <li>block: a {@code layer1.0.conv3} exists only in bottleneck blocks;</li>
 *   <li>depth: the highest block index in each {@code layerS.B.} prefix;</li>
 *   <li>groups and width per group: bottleneck {@code layer1.0.conv2.weight} is {@code [width, width / groups,
 *       3, 3]} where {@code width = width_per_group * groups} (planes 64 in stage 1);</li>
 *   <li>classes: the rows of {@code fc.weight}.</li>
 * </ul>
 * The result is only a hypothesis: {@link ResNetSpec#validate} then checks every tensor against it.
 */
public final class ArchitectureDetector {
    private static final Pattern BLOCK = Pattern.compile("^layer([1-9][0-9]{0,2})\\.([0-9]{1,4})\\.");
    /** Deeper than any ResNet anyone trains; keeps a hostile name like layer1.9999 from listing 10^4 blocks. */
    private static final int MAX_BLOCKS_PER_STAGE = 1000;

    private ArchitectureDetector() {}

    /**
     * The network these tensors (name to shape) belong to, named if torchvision knows it, else "custom".
     *
     * @param file for messages
     * @throws CheckpointException naming what is missing or malformed, suggesting {@code --arch}
     */
    public static ResNetSpec detect(String file, Map<String, long[]> shapes) throws CheckpointException {
        String where = file + ": cannot detect the architecture (use --arch NAME to name it): ";
        long[] first = shapes.get("layer1.0.conv1.weight");
        long[] fc = shapes.get("fc.weight");
        if (first == null || fc == null) {
            throw new CheckpointException(where + "no tensor " + (first == null ? "layer1.0.conv1.weight" : "fc.weight")
                    + "; is this a torchvision ResNet state_dict?");
        }
        if (fc.length != 2 || fc[0] < 1 || fc[0] > Integer.MAX_VALUE) {
            throw new CheckpointException(where + "fc.weight has shape " + Arrays.toString(fc)
                    + ", expected [num_classes, features]");
        }
        BlockType block = shapes.containsKey("layer1.0.conv3.weight") ? BlockType.BOTTLENECK : BlockType.BASIC;

        int[] stages = new int[4];
        for (String name : shapes.keySet()) {
            Matcher m = BLOCK.matcher(name);
            if (m.find()) {
                int stage = Integer.parseInt(m.group(1));
                int index = Integer.parseInt(m.group(2));
                if (stage <= 4) {
                    if (index >= MAX_BLOCKS_PER_STAGE) {
                        throw new CheckpointException(where + "tensor " + name + " has block index " + index
                                + ", over the limit of " + MAX_BLOCKS_PER_STAGE);
                    }
                    stages[stage - 1] = Math.max(stages[stage - 1], index + 1);
                }
            }
        }
        for (int s = 0; s < 4; s++) {
            if (stages[s] == 0) {
                throw new CheckpointException(where + "stage layer" + (s + 1) + " has no blocks");
            }
        }

        int groups = 1;
        int widthPerGroup = 64;
        if (block == BlockType.BOTTLENECK) {
            long[] conv2 = shapes.get("layer1.0.conv2.weight");
            if (conv2 == null || conv2.length != 4 || conv2[0] < 1 || conv2[1] < 1 || conv2[0] % conv2[1] != 0
                    || conv2[0] > 1 << 20) {
                throw new CheckpointException(where + "layer1.0.conv2.weight has shape "
                        + (conv2 == null ? "(missing)" : Arrays.toString(conv2))
                        + ", expected [width, width / groups, 3, 3]");
            }
            groups = (int) (conv2[0] / conv2[1]);
            widthPerGroup = (int) (conv2[0] / groups);
        }
        String name = ResNetSpec.nameOf(block, stages, groups, widthPerGroup);
        return new ResNetSpec(name, block, stages, groups, widthPerGroup, (int) fc[0]);
    }
}
