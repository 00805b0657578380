package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.format.ModelFile;
import dev.skipjack.format.proto.BlockType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Which network a state_dict is, from its names and shapes; and what each network's state_dict holds. */
class ArchitectureDetectionTest {
    @TempDir
    Path tmp;

    /** Every model of the fixtures' manifest is detected as the generator's info.json says. */
    @Test
    void everyFixtureModelIsDetected() throws IOException {
        List<String> models = Fixtures.models();
        assertTrue(models.containsAll(List.of("resnet18", "resnet50", "tiny_basic", "tiny_bottleneck")), models.toString());
        for (String model : models) {
            Path checkpoint = Fixtures.path(model + "/checkpoint.pt");
            try (Arena arena = Arena.ofShared()) {
                LoadedCheckpoint ck = CheckpointReader.read(checkpoint, arena, Limits.defaults());
                StateDict sd = StateDict.locate(ck);
                ResNetSpec spec = ArchitectureDetector.detect("checkpoint.pt", sd.shapes());
                spec.validate("checkpoint.pt", sd.tensors());
                FixtureConversionTest.assertArchitecture(Fixtures.info(model), spec.toArchitecture());
            }
        }
    }

    /**
     * The expected tensors against torchvision 0.14's own counts (sum of parameter sizes, excluding batch norm's
     * running statistics; and the number of state_dict entries), printed by
     * {@code sum(p.numel() for p in m.parameters()), len(m.state_dict())}.
     */
    @ParameterizedTest
    @CsvSource({
        "resnet18, 11689512, 122", "resnet34, 21797672, 218", "resnet50, 25557032, 320",
        "resnet101, 44549160, 626", "resnet152, 60192808, 932", "resnext50_32x4d, 25028904, 320",
        "resnext101_32x8d, 88791336, 626", "resnext101_64x4d, 83455272, 626", "wide_resnet50_2, 68883240, 320",
        "wide_resnet101_2, 126886696, 626"
    })
    void expectedTensorsMatchTorchvision(String name, long parameters, int entries) throws CheckpointException {
        ResNetSpec spec = ResNetSpec.named(name, 1000);
        Map<String, ResNetSpec.Expected> expected = spec.expectedTensors();
        assertEquals(entries, expected.size());
        long sum = 0;
        for (var e : expected.entrySet()) {
            if (!e.getKey().endsWith("running_mean") && !e.getKey().endsWith("running_var") && !e.getValue().integer()) {
                sum += SyntheticCheckpoint.count(e.getValue().shape());
            }
        }
        assertEquals(parameters, sum);
    }

    /** Names and shapes alone (no weights) identify every torchvision variant, including the ones without fixtures. */
    @ParameterizedTest
    @ValueSource(strings = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
        "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"})
    void detectsFromNamesAndShapes(String name) throws CheckpointException {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        ResNetSpec.named(name, 1000).expectedTensors().forEach((n, e) -> shapes.put(n, e.shape()));
        ResNetSpec got = ArchitectureDetector.detect("x.pt", shapes);
        assertEquals(name, got.name());
        assertEquals(1000, got.numClasses());
    }

    /** Spot checks against torchvision 0.14's actual tensors, independent of the generator above. */
    @Test
    void knownShapes() throws CheckpointException {
        var x = ResNetSpec.named("resnext101_32x8d", 1000).expectedTensors();
        assertArrayEquals(new long[] {256, 8, 3, 3}, x.get("layer1.0.conv2.weight").shape());
        assertArrayEquals(new long[] {2048, 1024, 1, 1}, x.get("layer4.0.conv1.weight").shape());
        assertArrayEquals(new long[] {2048, 64, 3, 3}, x.get("layer4.0.conv2.weight").shape());
        assertArrayEquals(new long[] {2048, 1024, 1, 1}, x.get("layer4.0.downsample.0.weight").shape());
        var w = ResNetSpec.named("wide_resnet101_2", 1000).expectedTensors();
        assertArrayEquals(new long[] {128, 128, 3, 3}, w.get("layer1.0.conv2.weight").shape());
        assertArrayEquals(new long[] {512, 1024, 1, 1}, w.get("layer3.22.conv1.weight").shape());
        assertTrue(!w.containsKey("layer3.23.conv1.weight"));
        var r = ResNetSpec.named("resnet18", 1000).expectedTensors();
        assertTrue(!r.containsKey("layer1.0.downsample.0.weight"));
        assertArrayEquals(new long[] {128, 64, 1, 1}, r.get("layer2.0.downsample.0.weight").shape());
        assertArrayEquals(new long[0], r.get("bn1.num_batches_tracked").shape());
    }

    /** resnext101_32x8d and wide_resnet101_2 end to end: synthesized checkpoints, converted and detected. */
    @ParameterizedTest
    @ValueSource(strings = {"resnext101_32x8d", "wide_resnet101_2"})
    void synthesizedDeepModelsConvert(String name) throws IOException {
        var c = SyntheticCheckpoint.of(ResNetSpec.named(name, 1000));
        Path out = tmp.resolve(name + ".skj");
        String printed = ConvertAssertions.convert(c.write(tmp, name + ".pt"), out);
        assertTrue(printed.contains(name + " (bottleneck [3, 4, 23, 3]"), printed);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(name, ModelFile.open(out, arena).architecture().getName());
        }
    }

    @Test
    void customDepthsAndClasses() throws CheckpointException {
        var spec = new ResNetSpec(ResNetSpec.CUSTOM, BlockType.BOTTLENECK, new int[] {2, 1, 5, 1}, 4, 16, 37);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        spec.expectedTensors().forEach((n, e) -> shapes.put(n, e.shape()));
        ResNetSpec got = ArchitectureDetector.detect("x.pt", shapes);
        assertEquals("custom", got.name());
        assertArrayEquals(new int[] {2, 1, 5, 1}, got.stageBlocks());
        assertEquals(4, got.groups());
        assertEquals(16, got.widthPerGroup());
        assertEquals(37, got.numClasses());
    }

    @Test
    void forcedArchitecture() throws IOException {
        Path tiny = Fixtures.path("tiny_basic/checkpoint.pt");
        ConvertAssertions.assertFailsCleanly(tiny, new String[] {"--arch", "resnet18"},
                "checkpoint.pt: missing tensor layer1.1.conv1.weight (expected shape [64, 64, 3, 3]) for resnet18");
        ConvertAssertions.assertFailsCleanly(tiny, new String[] {"--arch", "resnet9000"},
                "unknown architecture 'resnet9000' (known: resnet18, resnet34");
        Path out = tmp.resolve("forced.skj");
        ConvertAssertions.convert(Fixtures.path("resnet18/checkpoint.pt"), out, "--arch", "resnet18");
        try (Arena arena = Arena.ofConfined()) {
            assertEquals("resnet18", ModelFile.open(out, arena).architecture().getName());
        }
    }

    @Test
    void undetectableStateDicts() throws CheckpointException {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("features.0.weight", new long[] {64, 3, 3, 3});
        String msg = assertThrows(CheckpointException.class, () -> ArchitectureDetector.detect("vgg.pt", shapes))
                .getMessage();
        assertTrue(msg.startsWith("vgg.pt: cannot detect the architecture (use --arch NAME to name it): no tensor "
                + "layer1.0.conv1.weight"), msg);

        Map<String, long[]> deep = new LinkedHashMap<>();
        ResNetSpec.named("resnet18", 10).expectedTensors().forEach((n, e) -> deep.put(n, e.shape()));
        deep.put("layer2.9999.conv1.weight", new long[] {1});
        msg = assertThrows(CheckpointException.class, () -> ArchitectureDetector.detect("x.pt", deep)).getMessage();
        assertTrue(msg.contains("tensor layer2.9999.conv1.weight has block index 9999, over the limit of 1000"), msg);
    }
}
