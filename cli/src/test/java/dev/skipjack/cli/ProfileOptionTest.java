package dev.skipjack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.model.ResNetGraph;
import dev.skipjack.engine.model.SeededWeights;
import dev.skipjack.format.ModelFileWriter;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import dev.skipjack.format.proto.Metadata;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --profile} on {@code ./skipjack run}: in the default build there is no GPU backend, so {@code gpu}
 * must fall back to the CPU with exactly one line saying so, print the plan, and write the CPU's logits.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ProfileOptionTest {
    private static final String FALLBACK = "skipjack: profile gpu: no accelerator backend is on the class path "
            + "(build the skipjack-gpu-tornadovm module with mvn -Ptornadovm; see docs/GPU.md); every layer runs on "
            + "the CPU";

    @TempDir
    static Path dir;

    private Path model;
    private Path input;

    @BeforeAll
    void writeModelAndInput() throws IOException {
        Architecture arch = Architecture.newBuilder().setName("custom").setBlock(BlockType.BASIC)
                .addStageBlocks(1).addStageBlocks(1).addStageBlocks(1).addStageBlocks(1)
                .setGroups(1).setWidthPerGroup(64).setNumClasses(10).build();
        model = dir.resolve("tiny10.skj");
        try (Arena arena = Arena.ofConfined()) {
            var tensors = new ArrayList<TensorData>();
            for (var t : SeededWeights.create(ResNetGraph.of(arch), 5, arena).values()) {
                tensors.add(TensorData.ofFloat(t.name(), t.shape(), t.data()));
            }
            ModelFileWriter.write(model, arch, Metadata.getDefaultInstance(), tensors);
        }
        var r = new SplittableRandom(3);
        ByteBuffer b = ByteBuffer.allocate(2 * 3 * 40 * 52 * 4).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            b.putFloat((float) r.nextGaussian());
        }
        input = dir.resolve("x.f32");
        Files.write(input, b.array());
    }

    private float[] run(String out, String... extra) throws Exception {
        var args = new ArrayList<String>(List.of("run", "--model", model.toString(), "--input",
                input.toString(), "--shape", "2,3,40,52", "--output", dir.resolve(out).toString(), "--threads", "2"));
        args.addAll(List.of(extra));
        var r = ClassifyAndRunCommandTest.call(null, args.toArray(new String[0]));
        assertEquals(0, r.status(), r.err());
        lastErr = r.err();
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(dir.resolve(out))).order(ByteOrder.LITTLE_ENDIAN);
        float[] logits = new float[b.remaining() / 4];
        b.asFloatBuffer().get(logits);
        return logits;
    }

    private String lastErr;

    @Test
    void gpuFallsBackToTheCpuWithOneLineAndTheSameLogits() throws Exception {
        run("warm.f32"); // the first inference in a JVM runs before the kernels are JIT-compiled
        float[] cpu = run("cpu.f32");
        assertEquals("", lastErr, "no --profile: nothing on stderr");
        float[] gpu = run("gpu.f32", "--profile", "gpu");
        String[] lines = lastErr.split("\\R");
        assertEquals(FALLBACK, lines[0]);
        assertEquals(1, lastErr.lines().filter(l -> l.contains("no accelerator backend")).count(), lastErr);
        assertTrue(lines[1].startsWith("dispatch plan (profile gpu): cpu = 2 threads"), lastErr);
        assertTrue(lastErr.contains("0 of 15 layers on an accelerator"), lastErr);
        assertTrue(lastErr.lines().anyMatch(l -> l.matches("  layer3\\.0\\.downsample\\.0 +cpu +no accelerator: "
                + "profile gpu falls back to the CPU")), lastErr);
        double scale = 0, diff = 0;
        for (int i = 0; i < cpu.length; i++) {
            scale = Math.max(scale, Math.abs(cpu[i]));
            diff = Math.max(diff, Math.abs(cpu[i] - gpu[i]));
        }
        assertEquals(20, gpu.length);
        assertTrue(diff <= 1e-6 * Math.max(1, scale), "logits differ by " + diff + " (largest " + scale + ")");
    }

    @Test
    void cpuProfilePrintsThePlanOnly() throws Exception {
        run("cpu2.f32", "--profile", "cpu");
        assertTrue(lastErr.startsWith("dispatch plan (profile cpu): cpu = 2 threads"), lastErr);
        assertTrue(lastErr.contains("  fc "), lastErr);
    }

    @Test
    void badProfilesAreUsageErrors() throws Exception {
        var r = ClassifyAndRunCommandTest.call(null, "run", "--model", model.toString(), "--input", input.toString(),
                "--shape", "2,3,40,52", "--output", dir.resolve("y.f32").toString(), "--profile", "gpus");
        assertEquals(2, r.status());
        assertEquals("skipjack run: --profile: profile 'gpus' is not cpu, gpu or auto, and there is no such file "
                + "(try ./skipjack run --help)", r.err().trim());

        Path bad = dir.resolve("bad.profile");
        Files.writeString(bad, "# pins\nlayer4.* = gpu\nfc -> cpu\n");
        r = ClassifyAndRunCommandTest.call(null, "classify", "--model", model.toString(), "--profile", bad.toString(),
                "x.png");
        assertEquals(2, r.status());
        assertEquals("skipjack classify: --profile: " + bad + ":3: expected 'LAYER-OR-GLOB = cpu|gpu|auto', got "
                + "'fc -> cpu'", r.err().trim());
    }
}
