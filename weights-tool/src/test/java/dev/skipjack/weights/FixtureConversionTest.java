package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.testing.Json;
import dev.skipjack.format.ModelFile;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.Metadata;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Converts the fixtures' torch.save checkpoints and compares every tensor with PyTorch's, bit for bit. */
class FixtureConversionTest {
    private static final List<String> VARIANTS = List.of("legacy", "wrapped_state_dict", "wrapped_model",
            "dataparallel", "float16", "bfloat16", "float64", "noncontiguous", "shared_storage");

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"resnet18", "resnet50", "tiny_basic", "tiny_bottleneck"})
    void modelConvertsBitForBit(String model) throws IOException {
        Path checkpoint = Fixtures.path(model + "/checkpoint.pt");
        Path out = tmp.resolve(model + ".skj");
        String printed = ConvertAssertions.convert(checkpoint, out);
        assertTrue(printed.startsWith("wrote " + out), printed);

        ConvertAssertions.assertTensorsMatch(out, Fixtures.expectedTensors(model + "/tensors.json"));
        try (Arena arena = Arena.ofConfined()) {
            ModelFile m = ModelFile.open(out, arena);
            assertArchitecture(Fixtures.info(model), m.architecture());
            Metadata meta = m.metadata();
            assertEquals("checkpoint.pt", meta.getSourceFile());
            assertEquals(ConvertAssertions.sha256(Files.readAllBytes(checkpoint)), meta.getSourceSha256());
            assertTrue(meta.getConverterVersion().startsWith("skipjack-weights-tool ")
                    && !meta.getConverterVersion().endsWith("unknown"), meta.getConverterVersion());
            assertEquals(0, meta.getLabelsCount());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"legacy", "wrapped_state_dict", "wrapped_model", "dataparallel", "float16", "bfloat16",
            "float64", "noncontiguous", "shared_storage"})
    void formatVariantConvertsToExpectedValues(String variant) throws IOException {
        Path out = tmp.resolve(variant + ".skj");
        ConvertAssertions.convert(Fixtures.path("formats/" + variant + ".pt"), out);
        ConvertAssertions.assertTensorsMatch(out, Fixtures.expectedTensors("formats/" + variant + ".json"));
        try (Arena arena = Arena.ofConfined()) {
            ModelFile m = ModelFile.open(out, arena);
            assertArchitecture(Fixtures.info("tiny_basic"), m.architecture());
            String source = switch (variant) {
                case "float16", "bfloat16", "float64" -> variant;
                default -> "float32";
            };
            assertEquals(source, m.tensor("conv1.weight").sourceDType());
            assertEquals("int64", m.tensor("bn1.num_batches_tracked").sourceDType());
        }
    }

    /** A new variant in the fixtures must get a test here, not be silently skipped. */
    @Test
    void everyFormatVariantIsTested() throws IOException {
        Set<String> found;
        try (Stream<Path> files = Files.list(Fixtures.path("formats"))) {
            found = new java.util.TreeSet<>(files.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".pt")).map(n -> n.substring(0, n.length() - 3)).toList());
        }
        assertEquals(new java.util.TreeSet<>(VARIANTS), found);
    }

    @Test
    void labelsAreStored() throws IOException {
        Path labels = tmp.resolve("labels.txt");
        var names = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            names.append("class ").append(i).append('\n');
        }
        Files.writeString(labels, names + "\n");
        Path out = tmp.resolve("tiny.skj");
        ConvertAssertions.convert(Fixtures.path("tiny_basic/checkpoint.pt"), out, "--labels", labels.toString());
        try (Arena arena = Arena.ofConfined()) {
            Metadata meta = ModelFile.open(out, arena).metadata();
            assertEquals(10, meta.getLabelsCount());
            assertEquals("class 9", meta.getLabels(9));
        }
        Files.writeString(labels, "cat\ndog\n");
        ConvertAssertions.assertFailsCleanly(Fixtures.path("tiny_basic/checkpoint.pt"),
                new String[] {"--labels", labels.toString()}, "the labels name 2 classes", "has 10");
    }

    /** The model file's Architecture equals the generator's info.json. */
    static void assertArchitecture(Map<String, Object> info, Architecture a) {
        String arch = (String) info.get("arch");
        String expectedName = ResNetSpec.knownNames().contains(arch) ? arch : ResNetSpec.CUSTOM;
        assertEquals(expectedName, a.getName());
        assertEquals(info.get("block"), a.getBlock().name());
        List<Integer> stages = Json.array(info.get("stage_blocks")).stream()
                .map(o -> ((Number) o).intValue()).toList();
        assertEquals(stages, a.getStageBlocksList());
        assertEquals(((Number) info.get("groups")).intValue(), a.getGroups());
        assertEquals(((Number) info.get("width_per_group")).intValue(), a.getWidthPerGroup());
        assertEquals(((Number) info.get("num_classes")).intValue(), a.getNumClasses());
    }
}
