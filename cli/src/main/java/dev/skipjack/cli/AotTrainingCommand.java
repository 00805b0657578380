package dev.skipjack.cli;

import dev.skipjack.engine.model.Architectures;
import dev.skipjack.engine.model.ResNetGraph;
import dev.skipjack.engine.model.SeededWeights;
import dev.skipjack.format.ModelFileWriter;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.Metadata;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * {@code ./skipjack aot-training}: the workload that {@code ./skipjack aot-cache} records into the JVM's
 * ahead-of-time cache (docs/ARCHITECTURE.md, "Startup"). It does what a user's first command does: load a
 * model file (header, CRCs, folding, packing, kernel warm-up), then classify a PNG and a JPEG and run a raw
 * tensor, through the same code as {@code classify} and {@code run}, so the classes those load are in the
 * cache. Without {@code --model} it writes a seeded ResNet-18 to a temporary model file first (no download).
 */
public final class AotTrainingCommand {
    private AotTrainingCommand() {}

    private static final String USAGE = """
            usage: ./skipjack aot-training [--model MODEL] [--threads T]

            The training run of ./skipjack aot-cache (which records it with -XX:AOTCacheOutput); run on its own it
            only exercises the commands. Loads MODEL (default: a seeded ResNet-18 written to a temporary file),
            classifies a generated PNG and JPEG and runs a raw 1x3x224x224 tensor; prints one line per step.

              --model MODEL   a Skipjack model file to train on (default: seeded ResNet-18)
              --threads T     threads to run on (default: all cores)
            """;

    public static int run(String[] args) throws Exception {
        return run(args, System.out, System.err);
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Options o;
        try {
            o = Options.parse(args, Set.of("model", "threads"), Set.of());
            if (o.has("help")) {
                out.print(USAGE);
                return 0;
            }
            if (!o.positional().isEmpty()) {
                throw new Options.UsageException("unexpected argument '" + o.positional().getFirst() + "'");
            }
            o.positiveInt("threads", 1);
        } catch (Options.UsageException e) {
            err.println("skipjack aot-training: " + e.getMessage() + " (try ./skipjack aot-training --help)");
            return 2;
        }
        Path dir = Files.createTempDirectory("skipjack-aot-training");
        try {
            Path model;
            if (o.has("model")) {
                model = Path.of(o.get("model"));
                if (!Files.isRegularFile(model)) {
                    err.println("skipjack aot-training: " + model + ": no such model file");
                    return 1;
                }
            } else {
                model = dir.resolve("seeded-resnet18.skj");
                writeSeeded("resnet18", model);
            }
            List<String> common = new ArrayList<>(List.of("--model", model.toString()));
            if (o.has("threads")) {
                common.addAll(List.of("--threads", o.get("threads")));
            }
            Path png = dir.resolve("training.png");
            Path jpg = dir.resolve("training.jpg");
            writeImage(png, "png");
            writeImage(jpg, "jpg");
            var classify = new ArrayList<>(common);
            classify.addAll(List.of("--top", "1", png.toString(), jpg.toString()));
            int status = ClassifyCommand.run(classify.toArray(String[]::new), discard(), err);
            if (status != 0) {
                return status;
            }
            out.println("aot-training: classified a PNG and a JPEG with " + model);

            Path input = dir.resolve("input.f32");
            Path logits = dir.resolve("logits.f32");
            writeInput(input, 3 * 224 * 224);
            var run = new ArrayList<>(common);
            run.addAll(List.of("--input", input.toString(), "--shape", "1,3,224,224", "--output", logits.toString()));
            status = RunCommand.run(run.toArray(String[]::new), discard(), err);
            if (status != 0) {
                return status;
            }
            out.println("aot-training: ran a raw [1][3][224][224] tensor");
            return 0;
        } finally {
            deleteTree(dir);
        }
    }

    /** A model file with {@link SeededWeights} for {@code arch}, so training needs no download. */
    static void writeSeeded(String arch, Path out) throws IOException {
        Architecture a = Architectures.named(arch);
        ResNetGraph graph = ResNetGraph.of(a);
        try (Arena arena = Arena.ofConfined()) {
            var tensors = new ArrayList<TensorData>();
            for (var t : SeededWeights.create(graph, 1, arena).values()) {
                tensors.add(TensorData.ofFloat(t.name(), t.shape(), t.data()));
            }
            ModelFileWriter.write(out, a, Metadata.getDefaultInstance(), tensors);
        }
    }

    /** A 320x240 gradient: any picture will do, what matters is that decoding and resizing run. */
    private static void writeImage(Path out, String format) throws IOException {
        var img = new BufferedImage(320, 240, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                img.setRGB(x, y, (x * 255 / 319) << 16 | (y * 255 / 239) << 8 | ((x + y) & 0xff));
            }
        }
        if (!ImageIO.write(img, format, out.toFile())) {
            throw new IOException("no ImageIO writer for " + format);
        }
    }

    /** {@code floats} little-endian float32 values in [-1, 1). */
    private static void writeInput(Path out, int floats) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(floats * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < floats; i++) {
            b.putFloat((i % 251) / 125.5f - 1f);
        }
        Files.write(out, b.array());
    }

    private static PrintStream discard() {
        return new PrintStream(OutputStream.nullOutputStream());
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
