package dev.skipjack.cli;

import dev.skipjack.engine.ResNet;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Set;

/** {@code ./skipjack run}: raw little-endian float32 NCHW in, raw float32 logits out. */
public final class RunCommand {
    private RunCommand() {}

    private static final String USAGE = """
            usage: ./skipjack run --model MODEL --input IN.f32 --shape N,C,H,W --output OUT.f32 [--threads T]
                                  [--profile cpu|gpu|auto|FILE] [--stats]

            Runs the model on a raw tensor and writes the logits: IN.f32 holds N*C*H*W little-endian float32
            values in NCHW order (already preprocessed; C must be 3), OUT.f32 receives N*CLASSES little-endian
            float32 values, row-major. The output is written to a temporary file and renamed into place, so a
            failure never leaves a partial OUT.f32.

              --model MODEL     a Skipjack model file
              --input IN.f32    the input tensor
              --shape N,C,H,W   its shape
              --output OUT.f32  where to write the logits
              --threads T       threads to run on (default: all cores)
            """ + ProfileOption.HELP + "\n" + StartupStats.HELP + "\n";

    public static int run(String[] args) throws Exception {
        return run(args, System.out, System.err);
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Options o;
        int[] shape;
        int threads;
        dev.skipjack.engine.backend.DispatchProfile profile;
        try {
            o = Options.parse(args, Set.of("model", "input", "shape", "output", "threads", "profile"),
                    Set.of("stats"));
            if (o.has("help")) {
                out.print(USAGE);
                return 0;
            }
            if (!o.positional().isEmpty()) {
                throw new Options.UsageException("unexpected argument '" + o.positional().getFirst() + "'");
            }
            for (String req : new String[] {"model", "input", "shape", "output"}) {
                o.require(req);
            }
            shape = parseShape(o.get("shape"));
            threads = o.positiveInt("threads", ResNet.Options.defaults().threads());
            profile = ProfileOption.parse(o);
        } catch (Options.UsageException e) {
            err.println("skipjack run: " + e.getMessage() + " (try ./skipjack run --help)");
            return 2;
        }
        int n = shape[0];
        int h = shape[2];
        int w = shape[3];
        Path input = Path.of(o.get("input"));
        Path output = Path.of(o.get("output"));
        long floats = (long) n * 3 * h * w;
        float[] x = readInput(input, floats, o.get("shape"));
        float[] logits;
        try (ResNet model = ResNet.load(Path.of(o.get("model")), new ResNet.Options(threads).withProfile(profile))) {
            ProfileOption.printPlan(o, model, err);
            long t0 = System.nanoTime();
            logits = model.predict(x, n, h, w);
            if (o.has("stats")) {
                long first = System.nanoTime() - t0;
                Instant firstLogits = Instant.now();
                // A second, identical pass shows how far the first one was from the compiled speed.
                long t1 = System.nanoTime();
                model.predict(x, n, h, w);
                long second = System.nanoTime() - t1;
                StartupStats.print(err, model, "first inference", first, second, firstLogits, n, h, w);
            }
        }
        writeAtomically(output, logits);
        return 0;
    }

    /** N,C,H,W with C = 3, all positive. */
    static int[] parseShape(String s) throws Options.UsageException {
        String[] parts = s.split(",", -1);
        if (parts.length != 4) {
            throw new Options.UsageException("--shape must be N,C,H,W (four integers), got '" + s + "'");
        }
        int[] d = new int[4];
        for (int i = 0; i < 4; i++) {
            try {
                d[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                d[i] = -1;
            }
            if (d[i] < 1) {
                throw new Options.UsageException("--shape must be four positive integers N,C,H,W, got '" + s + "'");
            }
        }
        if (d[1] != 3) {
            throw new Options.UsageException("--shape: the model takes 3 channels (RGB), got C=" + d[1]);
        }
        if ((long) d[0] * 3 * d[2] * d[3] > Integer.MAX_VALUE) {
            throw new Options.UsageException("--shape " + s + " is too large for one run (more than 2^31 floats)");
        }
        return d;
    }

    private static float[] readInput(Path input, long floats, String shape) throws IOException {
        long size;
        try {
            size = Files.size(input);
        } catch (NoSuchFileException e) {
            throw new IOException(input + ": no such file", e);
        }
        if (size != floats * Float.BYTES) {
            throw new IOException(input + " has " + size + " bytes, but shape " + shape + " of float32 needs "
                    + floats * Float.BYTES);
        }
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(input)).order(ByteOrder.LITTLE_ENDIAN);
        float[] x = new float[(int) floats];
        b.asFloatBuffer().get(x);
        return x;
    }

    static void writeAtomically(Path output, float[] values) throws IOException {
        Path dir = output.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + output.getFileName() + ".", ".partial");
        boolean done = false;
        try {
            ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(values);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(false);
            }
            try {
                Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }
}
