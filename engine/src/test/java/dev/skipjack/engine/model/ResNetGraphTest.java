package dev.skipjack.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.testing.FixtureModels;
import dev.skipjack.engine.testing.Fixtures;
import dev.skipjack.engine.testing.Json;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ResNetGraphTest {
    /** The graph's parameter list is exactly torchvision's state_dict for every fixture model. */
    @Test
    void expectedTensorsMatchTorchvisionStateDicts() throws IOException {
        int checked = 0;
        try (var dirs = Files.list(Fixtures.dir())) {
            for (Path dir : dirs.filter(d -> Files.isRegularFile(d.resolve("tensors.json"))).toList()) {
                Architecture a = FixtureModels.architecture(dir);
                ResNetGraph g = ResNetGraph.of(a);
                Map<String, long[]> torch = new HashMap<>();
                for (Object o : Json.array(Json.parse(Files.readString(dir.resolve("tensors.json"))))) {
                    var t = Json.object(o);
                    String name = (String) t.get("name");
                    long[] shape = Json.array(t.get("shape")).stream().mapToLong(x -> ((Number) x).longValue())
                            .toArray();
                    if (g.isIgnorable(name)) {
                        continue;
                    }
                    torch.put(name, shape);
                }
                Map<String, long[]> ours = g.expectedTensors();
                assertEquals(torch.keySet(), ours.keySet(), dir.toString());
                for (var e : ours.entrySet()) {
                    assertArrayEquals(torch.get(e.getKey()), e.getValue(), dir + ": " + e.getKey());
                }
                checked++;
            }
        }
        assertTrue(checked >= 4, "only " + checked + " fixture models found");
    }

    @Test
    void knownArchitecturesHaveTorchvisionParameterCounts() {
        // torchvision's documented parameter counts.
        Map<String, Long> params = Map.of("resnet18", 11_689_512L, "resnet34", 21_797_672L, "resnet50", 25_557_032L,
                "resnet101", 44_549_160L, "resnet152", 60_192_808L, "resnext50_32x4d", 25_028_904L,
                "resnext101_32x8d", 88_791_336L, "wide_resnet50_2", 68_883_240L, "wide_resnet101_2", 126_886_696L,
                "resnext101_64x4d", 83_455_272L);
        for (var e : params.entrySet()) {
            ResNetGraph g = ResNetGraph.of(Architectures.named(e.getKey()));
            long n = 0;
            for (var t : g.expectedTensors().entrySet()) {
                if (!t.getKey().endsWith("running_mean") && !t.getKey().endsWith("running_var")) {
                    long c = 1;
                    for (long d : t.getValue()) {
                        c *= d;
                    }
                    n += c;
                }
            }
            assertEquals(e.getValue(), n, e.getKey());
        }
    }

    @Test
    void flopsMatchTorchvisionGmacs() {
        // torchvision's documented GFLOPS are multiply-adds: 1.81 (18), 4.09 (50), 11.51 (152) at 224x224.
        assertEquals(1.81e9, ResNetGraph.of(Architectures.named("resnet18")).flops(1, 224, 224) / 2.0, 0.01e9);
        assertEquals(4.09e9, ResNetGraph.of(Architectures.named("resnet50")).flops(1, 224, 224) / 2.0, 0.01e9);
        assertEquals(11.51e9, ResNetGraph.of(Architectures.named("resnet152")).flops(1, 224, 224) / 2.0, 0.01e9);
        long one = ResNetGraph.of(Architectures.named("resnet50")).flops(1, 224, 224);
        assertEquals(3 * one, ResNetGraph.of(Architectures.named("resnet50")).flops(3, 224, 224));
    }

    @Test
    void bottleneckStrideSitsOnThe3x3AndDownsampleWhereTorchvisionPutsIt() {
        ResNetGraph g = ResNetGraph.of(Architectures.named("resnext50_32x4d"));
        Map<String, ResNetGraph.ConvLayer> byName = new HashMap<>();
        for (var c : g.convs()) {
            byName.put(c.conv(), c);
        }
        var c2 = byName.get("layer2.0.conv2");
        assertEquals(2, c2.stride());
        assertEquals(32, c2.groups());
        assertEquals(256, c2.cin()); // int(128 * 4 / 64) * 32
        assertEquals(1, byName.get("layer2.0.conv1").stride());
        assertNotNull(byName.get("layer1.0.downsample.0")); // 64 -> 256 channels at stride 1
        assertEquals(null, byName.get("layer1.1.downsample.0"));
        assertEquals(2, byName.get("layer4.0.downsample.0").stride());

        ResNetGraph basic = ResNetGraph.of(Architectures.named("resnet18"));
        assertTrue(basic.convs().stream().noneMatch(c -> c.conv().equals("layer1.0.downsample.0")));
        assertTrue(basic.convs().stream().anyMatch(c -> c.conv().equals("layer2.0.downsample.0")));
    }

    @Test
    void everyBlockEndsWithAFusedResidualAndRelu() {
        ResNetGraph g = ResNetGraph.of(Architectures.named("resnet50"));
        long residuals = g.ops().stream()
                .filter(o -> o instanceof ResNetGraph.Conv c && c.residual() >= 0 && c.relu()).count();
        assertEquals(3 + 4 + 6 + 3, residuals);
        assertTrue(g.ops().getLast() instanceof ResNetGraph.Fc);
    }

    @Test
    void invalidArchitecturesAreRefused() {
        var base = Architectures.named("resnet18").toBuilder();
        assertThrows(IllegalArgumentException.class, () -> ResNetGraph.of(base.clone().setGroups(2).build()));
        assertThrows(IllegalArgumentException.class, () -> ResNetGraph.of(base.clone().clearStageBlocks()
                .addStageBlocks(2).build()));
        assertThrows(IllegalArgumentException.class, () -> ResNetGraph.of(base.clone()
                .setBlock(BlockType.BLOCK_TYPE_UNSPECIFIED).build()));
        assertThrows(IllegalArgumentException.class, () -> ResNetGraph.of(base.clone().setNumClasses(0).build()));
        var e = assertThrows(IllegalArgumentException.class, () -> Architectures.named("resnet17"));
        assertTrue(e.getMessage().contains("resnet50"), e.getMessage());
    }
}
