package dev.skipjack.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.ResNet;
import dev.skipjack.engine.model.ResNetGraph;
import dev.skipjack.engine.model.SeededWeights;
import dev.skipjack.format.ModelFileWriter;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import dev.skipjack.format.proto.Metadata;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * classify and run on a small random model written here (one BasicBlock per stage, 1000 classes so that
 * ImageNet names apply); the numbers themselves are checked against PyTorch in the engine's tests.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClassifyAndRunCommandTest {
    @TempDir
    static Path dir;

    private Path model;
    private Path image;

    /** Runs a command with captured streams. */
    record Result(int status, String out, String err) {}

    static Result call(Main.Command c, String... args) throws Exception {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        int status;
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        // Commands print to System.out/err (the dispatcher's contract), so capture those.
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        System.setOut(o);
        System.setErr(e);
        try {
            status = c == null ? Main.run(args, e) : c.run(args);
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @BeforeAll
    void writeModelAndImage() throws IOException {
        Architecture arch = Architecture.newBuilder().setName("custom").setBlock(BlockType.BASIC)
                .addStageBlocks(1).addStageBlocks(1).addStageBlocks(1).addStageBlocks(1)
                .setGroups(1).setWidthPerGroup(64).setNumClasses(1000).build();
        model = dir.resolve("tiny1000.skj");
        try (Arena arena = Arena.ofConfined()) {
            var tensors = new ArrayList<TensorData>();
            for (var t : SeededWeights.create(ResNetGraph.of(arch), 11, arena).values()) {
                tensors.add(TensorData.ofFloat(t.name(), t.shape(), t.data()));
            }
            ModelFileWriter.write(model, arch, Metadata.getDefaultInstance(), tensors);
        }
        var img = new BufferedImage(300, 200, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 200; y++) {
            for (int x = 0; x < 300; x++) {
                img.setRGB(x, y, (x % 256) << 16 | (y % 256) << 8 | ((x * y) & 0xff));
            }
        }
        image = dir.resolve("pattern.png");
        ImageIO.write(img, "png", image.toFile());
    }

    @Test
    void classifyPrintsTopKWithImagenetNames() throws Exception {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        int status = ClassifyCommand.run(new String[] {"--model", model.toString(), "--top", "3", "--threads", "2",
                image.toString()}, new PrintStream(out, true), new PrintStream(err, true));
        assertEquals(0, status, err.toString());
        String[] lines = out.toString().split("\n");
        assertEquals(4, lines.length, out.toString());
        assertEquals(image.toString(), lines[0]);
        var names = ResNet.imagenetClasses();
        for (int i = 1; i <= 3; i++) {
            // "   1.  12.345%  name (id)"
            String line = lines[i].trim();
            assertTrue(line.startsWith(i + "."), line);
            int id = Integer.parseInt(line.substring(line.lastIndexOf('(') + 1, line.length() - 1));
            assertTrue(line.contains(names.get(id) + " (" + id + ")"), line);
        }
    }

    @Test
    void classifyJson() throws Exception {
        var out = new ByteArrayOutputStream();
        int status = ClassifyCommand.run(new String[] {"--model", model.toString(), "--json", "--top=2",
                image.toString(), image.toString()}, new PrintStream(out, true), System.err);
        assertEquals(0, status);
        String json = out.toString().trim();
        assertTrue(json.startsWith("[") && json.endsWith("]"), json);
        assertEquals(2, json.split("\"image\"", -1).length - 1, json);
        assertEquals(4, json.split("\"probability\"", -1).length - 1, json);
        assertEquals("\"a\\\"b\\\\c\\n\"", ClassifyCommand.quote("a\"b\\c\n"));
    }

    @Test
    void classifyErrorsAreOneClearLine() throws Exception {
        Result r = call(null, "classify", "--model", model.toString());
        assertEquals(2, r.status());
        assertEquals("skipjack classify: no images given (try ./skipjack classify --help)", r.err().trim());

        Path notImage = dir.resolve("notes.txt");
        Files.writeString(notImage, "hello");
        r = call(null, "classify", "--model", model.toString(), notImage.toString());
        assertEquals(1, r.status());
        assertEquals(1, r.err().trim().lines().count(), r.err());
        assertTrue(r.err().startsWith("skipjack classify: " + notImage) && r.err().contains("not a PNG, JPEG, BMP or GIF"),
                r.err());

        r = call(null, "classify", "--model", dir.resolve("missing.skj").toString(), image.toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("missing.skj: no such model file"), r.err());

        r = call(null, "classify", "--top", "0", "--model", model.toString(), image.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--top must be a positive integer"), r.err());

        r = call(null, "classify", "--help");
        assertEquals(0, r.status());
        assertTrue(r.out().startsWith("usage: ./skipjack classify"), r.out());
    }

    @Test
    void runWritesTheSameLogitsAsTheApi() throws Exception {
        int n = 2;
        int h = 37;
        int w = 50;
        float[] x = new float[n * 3 * h * w];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.cos(i * 0.11);
        }
        Path in = dir.resolve("in.f32");
        ByteBuffer b = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(x);
        Files.write(in, b.array());
        Path outFile = dir.resolve("out.f32");
        Result r = call(null, "run", "--model", model.toString(), "--input", in.toString(), "--shape",
                n + ",3," + h + "," + w, "--output", outFile.toString(), "--threads", "2");
        assertEquals(0, r.status(), r.err());
        ByteBuffer got = ByteBuffer.wrap(Files.readAllBytes(outFile)).order(ByteOrder.LITTLE_ENDIAN);
        float[] logits = new float[n * 1000];
        assertEquals(logits.length * 4, got.remaining());
        got.asFloatBuffer().get(logits);
        try (ResNet m = ResNet.load(model, new ResNet.Options(2))) {
            assertArrayEquals(m.predict(x, n, h, w), logits);
        }
    }

    @Test
    void runRefusesMismatchedInputsWithoutWritingOutput() throws Exception {
        Path in = dir.resolve("short.f32");
        Files.write(in, new byte[4 * 3 * 10 * 10 - 4]);
        Path outFile = dir.resolve("never.f32");
        Result r = call(null, "run", "--model", model.toString(), "--input", in.toString(), "--shape", "1,3,10,10",
                "--output", outFile.toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains(in + " has 1196 bytes, but shape 1,3,10,10 of float32 needs 1200"), r.err());
        assertFalse(Files.exists(outFile));
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".partial")));
        }

        r = call(null, "run", "--model", model.toString(), "--input", in.toString(), "--shape", "1,4,10,10",
                "--output", outFile.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("3 channels"), r.err());
        r = call(null, "run", "--model", model.toString(), "--input", in.toString(), "--shape", "1,3,10",
                "--output", outFile.toString());
        assertEquals(2, r.status());
        r = call(null, "run", "--model", model.toString(), "--shape", "1,3,10,10", "--output", outFile.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("missing --input"), r.err());
        r = call(null, "run", "--bogus");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("unknown option --bogus"), r.err());
    }
    @Test
    void statsReportTimesAndMemoryOnStderr() throws Exception {
        Result r = call(null, "classify", "--stats", "--model", model.toString(), image.toString());
        assertEquals(0, r.status(), r.err());
        // The first line: the times, with every load phase; the second: the engine's memory against the weights.
        assertTrue(r.err().matches("(?s).*skipjack stats: (process start|main) to first logits [0-9.]+ s: .*load "
                + "[0-9.]+ s \\(read [0-9.]+, fold \\+ pack [0-9.]+, kernel warm-up [0-9.]+\\), first classify.*"),
                r.err());
        assertTrue(r.err().matches("(?s).*skipjack stats: engine memory [0-9.]+ MB = packed weights [0-9.]+ MB \\+ "
                + "plan \\[1\\]\\[3\\]\\[224\\]\\[224\\] [0-9.]+ MB \\(weights [0-9.]+ MB [+-] [0-9.]+ MB\\).*"),
                r.err());
        assertTrue(r.out().contains("1."), r.out());

        Path in = dir.resolve("stats-in.f32");
        Files.write(in, new byte[3 * 32 * 32 * Float.BYTES]);
        r = call(null, "run", "--stats", "--model", model.toString(), "--input", in.toString(), "--shape",
                "1,3,32,32", "--output", dir.resolve("stats-out.f32").toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("first inference") && r.err().contains("(the same again: ")
                && r.err().contains("plan [1][3][32][32]"), r.err());
    }

    @Test
    void aotTrainingRunsClassifyAndRunOnTheGivenModel() throws Exception {
        Result r = call(null, "aot-training", "--model", model.toString(), "--threads", "2");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("aot-training: classified a PNG and a JPEG with " + model), r.out());
        assertTrue(r.out().contains("aot-training: ran a raw [1][3][224][224] tensor"), r.out());

        r = call(null, "aot-training", "--model", dir.resolve("missing.skj").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("missing.skj: no such model file"), r.err());
    }
}
