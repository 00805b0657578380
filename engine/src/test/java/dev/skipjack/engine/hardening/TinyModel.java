package dev.skipjack.engine.hardening;

import dev.skipjack.engine.model.ResNetGraph;
import dev.skipjack.engine.model.SeededWeights;
import dev.skipjack.engine.model.WeightLoader;
import dev.skipjack.format.ModelFileWriter;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import dev.skipjack.format.proto.Metadata;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The smallest model torchvision's ResNet allows, written as a model file with seeded weights: Bottleneck
 * blocks [1, 1, 1, 1] of width 1 (width_per_group 1), 3 classes, about 2.8 M parameters (11 MB), almost all
 * in the fixed downsample convolutions. Loads in tens of milliseconds, so tests can load it thousands of times
 * and corrupt it at hundreds of places without needing the fixtures.
 */
final class TinyModel {
    private TinyModel() {}

    static final Architecture ARCH = Architecture.newBuilder()
            .setName("custom")
            .setBlock(BlockType.BOTTLENECK)
            .addAllStageBlocks(List.of(1, 1, 1, 1))
            .setGroups(1)
            .setWidthPerGroup(1)
            .setNumClasses(3)
            .build();

    /** Writes the model to {@code file}. */
    static Path write(Path file) throws IOException {
        return write(file, UnaryOperator.identity());
    }

    /** Writes the model with each tensor passed through {@code edit} first (to plant a NaN, say). */
    static Path write(Path file, UnaryOperator<TensorData> edit) throws IOException {
        ResNetGraph graph = ResNetGraph.of(ARCH);
        try (Arena arena = Arena.ofConfined()) {
            var tensors = new ArrayList<TensorData>();
            for (WeightLoader.Tensor t : SeededWeights.create(graph, 42, arena).values()) {
                tensors.add(edit.apply(new TensorData(t.name(), t.dtype(), t.shape(), t.data(), "")));
            }
            Files.createDirectories(file.toAbsolutePath().getParent());
            ModelFileWriter.write(file, ARCH, Metadata.getDefaultInstance(), tensors);
        }
        return file;
    }

    /** A deterministic input {@code [n][3][h][w]} in roughly the range of a normalized image. */
    static float[] input(int n, int h, int w, long seed) {
        var r = new java.util.SplittableRandom(seed);
        float[] x = new float[3 * n * h * w];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextDouble() * 4 - 2);
        }
        return x;
    }
}
