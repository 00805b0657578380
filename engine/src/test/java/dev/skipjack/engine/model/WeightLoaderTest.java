package dev.skipjack.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.model.WeightLoader.Tensor;
import dev.skipjack.format.ModelFormatException;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import dev.skipjack.format.proto.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WeightLoaderTest {
    private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The smallest torchvision-shaped network: BasicBlock, one block per stage, 3 classes. */
    static final Architecture TINY = Architecture.newBuilder().setName("custom").setBlock(BlockType.BASIC)
            .addStageBlocks(1).addStageBlocks(1).addStageBlocks(1).addStageBlocks(1)
            .setGroups(1).setWidthPerGroup(64).setNumClasses(3).build();

    @Test
    void foldsBatchNormInDouble() throws ModelFormatException {
        ResNetGraph g = ResNetGraph.of(TINY);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> t = SeededWeights.create(g, 7, arena);
            WeightLoader.Weights w = WeightLoader.load(g, t, "test", arena);
            var stem = w.convs().get(0);
            assertEquals("conv1", stem.layer().conv());
            int perOut = 3 * 7 * 7;
            for (int o = 0; o < 64; o += 9) {
                double gamma = t.get("bn1.weight").data().get(LE, o * 4L);
                double beta = t.get("bn1.bias").data().get(LE, o * 4L);
                double mean = t.get("bn1.running_mean").data().get(LE, o * 4L);
                double var = t.get("bn1.running_var").data().get(LE, o * 4L);
                double s = gamma / Math.sqrt(var + 1e-5);
                for (int i = 0; i < perOut; i += 13) {
                    double raw = t.get("conv1.weight").data().get(LE, (long) (o * perOut + i) * 4);
                    assertEquals((float) (raw * s), stem.weight().getAtIndex(ValueLayout.JAVA_FLOAT, o * perOut + i));
                }
                assertEquals((float) (beta - mean * s), stem.bias().getAtIndex(ValueLayout.JAVA_FLOAT, o));
            }
        }
    }

    private static Map<String, Tensor> copy(Map<String, Tensor> t) {
        return new LinkedHashMap<>(t);
    }

    @Test
    void errorsNameFileTensorAndShapes() throws ModelFormatException {
        ResNetGraph g = ResNetGraph.of(TINY);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> good = SeededWeights.create(g, 1, arena);

            var missing = copy(good);
            missing.remove("layer3.0.bn2.running_var");
            var e = assertThrows(ModelFormatException.class, () -> WeightLoader.load(g, missing, "m.skj", arena));
            assertTrue(e.getMessage().contains("m.skj") && e.getMessage().contains("missing tensor layer3.0.bn2.running_var")
                    && e.getMessage().contains("[256]"), e.getMessage());

            var wrong = copy(good);
            wrong.put("fc.weight", new Tensor("fc.weight", DType.FLOAT32, new long[] {4, 512},
                    arena.allocate(4 * 512 * 4)));
            e = assertThrows(ModelFormatException.class, () -> WeightLoader.load(g, wrong, "m.skj", arena));
            assertTrue(e.getMessage().contains("m.skj: tensor fc.weight has shape [4, 512], expected [3, 512]"),
                    e.getMessage());

            var extra = copy(good);
            extra.put("layer1.1.conv1.weight", good.get("layer1.0.conv1.weight"));
            e = assertThrows(ModelFormatException.class, () -> WeightLoader.load(g, extra, "m.skj", arena));
            assertTrue(e.getMessage().contains("unexpected tensor layer1.1.conv1.weight"), e.getMessage());

            var counters = copy(good);
            counters.put("layer1.0.bn1.num_batches_tracked", new Tensor("layer1.0.bn1.num_batches_tracked",
                    DType.INT64, new long[0], arena.allocate(8)));
            WeightLoader.load(g, counters, "m.skj", arena); // ignored, as torchvision's eval() ignores it

            var negativeVar = copy(good);
            MemorySegment v = arena.allocate(64 * 4);
            v.set(LE, 4 * 5, -1f);
            negativeVar.put("bn1.running_var", new Tensor("bn1.running_var", DType.FLOAT32, new long[] {64}, v));
            e = assertThrows(ModelFormatException.class, () -> WeightLoader.load(g, negativeVar, "m.skj", arena));
            assertTrue(e.getMessage().contains("bn1 channel 5"), e.getMessage());
        }
    }

    @Test
    void seededWeightsAreDeterministic() {
        ResNetGraph g = ResNetGraph.of(TINY);
        try (Arena arena = Arena.ofConfined()) {
            var a = SeededWeights.create(g, 42, arena);
            var b = SeededWeights.create(g, 42, arena);
            var c = SeededWeights.create(g, 43, arena);
            for (String name : a.keySet()) {
                assertEquals(-1, a.get(name).data().mismatch(b.get(name).data()), name);
            }
            assertTrue(a.get("conv1.weight").data().mismatch(c.get("conv1.weight").data()) >= 0);
        }
    }
}
