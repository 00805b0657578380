package dev.skipjack.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.format.ModelFormatException;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import java.lang.foreign.Arena;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PlanTest {
    // Bottleneck blocks with downsample branches, groups and a two-block stage: every buffer situation.
    private static final Architecture ARCH = Architecture.newBuilder().setName("custom")
            .setBlock(BlockType.BOTTLENECK).addStageBlocks(1).addStageBlocks(2).addStageBlocks(1).addStageBlocks(1)
            .setGroups(2).setWidthPerGroup(32).setNumClasses(10).build();

    private Arena arena;
    private Network net;

    @BeforeAll
    void build() throws ModelFormatException {
        arena = Arena.ofConfined();
        ResNetGraph g = ResNetGraph.of(ARCH);
        net = Network.build(g, WeightLoader.load(g, SeededWeights.create(g, 3, arena), "seeded", arena), arena);
    }

    @AfterAll
    void free() {
        arena.close();
    }

    /** Replays the plan: every operation must find its inputs still in their buffers, and fit its output. */
    private static void replay(Network net, Plan p) {
        int[] content = new int[p.bufferCount()];
        Arrays.fill(content, -1);
        content[p.bufferOf(0)] = 0;
        for (ResNetGraph.Op op : net.ops()) {
            int out = p.bufferOf(op.output());
            assertEquals(op.input(), content[p.bufferOf(op.input())], "input of " + op + " was overwritten");
            assertNotEquals(p.bufferOf(op.input()), out, op + " writes its own input");
            if (op instanceof ResNetGraph.Conv c && c.residual() >= 0) {
                assertEquals(c.residual(), content[p.bufferOf(c.residual())], "residual of " + op + " was overwritten");
                assertNotEquals(p.bufferOf(c.residual()), out, op + " writes its residual");
            }
            content[out] = op.output();
        }
        for (int v = 0; v < net.graph().valueCount(); v++) {
            assertTrue(p.bufferBytes[p.bufferOf(v)] >= p.floats(v) * 4, "value " + v + " does not fit");
        }
    }

    @Test
    void buffersAreReusedWithoutClobberingLiveValues() {
        for (int[] s : new int[][] {{1, 224, 224}, {4, 197, 263}, {2, 1, 1}, {1, 7, 300}}) {
            Plan p = Plan.create(net, s[0], s[1], s[2], 2);
            replay(net, p);
            assertTrue(p.bufferCount() <= 5, "buffers: " + p.bufferCount());
            assertTrue(p.scratchBytes > 0);
        }
    }

    @Test
    void shapesFollowTorchvision() {
        Plan p = Plan.create(net, 4, 197, 263, 2);
        assertArrayEquals(new int[] {4, 64, 99, 132}, p.shapeOf(1)); // stem: (197 + 6 - 7) / 2 + 1
        assertArrayEquals(new int[] {4, 64, 50, 66}, p.shapeOf(2)); // max pool
        int logits = net.graph().valueCount() - 1;
        assertArrayEquals(new int[] {4, 10, 1, 1}, p.shapeOf(logits));
        assertArrayEquals(new int[] {4, 2048, 1, 1}, p.shapeOf(logits - 1));
        // The last stage at 1/32 resolution, rounded the way the strided convolutions round.
        int beforePool = logits - 2;
        assertArrayEquals(new int[] {4, 2048, 7, 9}, p.shapeOf(beforePool));
    }

    @Test
    void badShapesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Plan.create(net, 0, 224, 224, 2));
        assertThrows(IllegalArgumentException.class, () -> Plan.create(net, 1, 0, 224, 2));
        var e = assertThrows(IllegalArgumentException.class, () -> Plan.create(net, 1000, 4000, 4000, 2));
        assertTrue(e.getMessage().contains("too large"), e.getMessage());
    }
}
