package dev.skipjack.weights;

import dev.skipjack.format.ModelFileWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code ./skipjack convert CHECKPOINT -o MODEL [--arch NAME] [--labels FILE]}: a PyTorch checkpoint to a
 * Skipjack model file. Failures throw with one clear message (the dispatcher prints it on stderr and exits 1)
 * and leave no output file.
 */
public final class ConvertCommand {
    /** Checkpoints at least this big get progress lines on stderr. */
    static final long PROGRESS_THRESHOLD = 64L << 20;

    private static final String USAGE = """
            usage: ./skipjack convert CHECKPOINT -o MODEL [--arch NAME] [--labels FILE]

            Converts a PyTorch checkpoint (torch.save of a torchvision ResNet's state_dict, bare or under
            "state_dict" / "model", zip or legacy format, float32/16, bfloat16 or float64) into a Skipjack
            model file. Nothing in the checkpoint is executed: its pickle may only name storages, tensors
            and OrderedDict.

              -o, --output MODEL   the model file to write (replaced atomically; never left half-written)
              --arch NAME          skip detection and check against this architecture:
                                   %s
              --labels FILE        class labels, one per line, exactly as many as the model has classes
              -h, --help           this text
            """;

    private ConvertCommand() {}

    /** The subcommand, as registered with the dispatcher. */
    public static int run(String[] args) throws Exception {
        return run(args, System.out, System.err);
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws IOException {
        Path checkpoint = null;
        Path output = null;
        String arch = null;
        Path labelsFile = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "-h", "--help" -> {
                    out.print(USAGE.formatted(String.join(", ", ResNetSpec.knownNames())));
                    return 0;
                }
                case "-o", "--output" -> output = Path.of(value(args, ++i, a));
                case "--arch" -> arch = value(args, ++i, a);
                case "--labels" -> labelsFile = Path.of(value(args, ++i, a));
                default -> {
                    if (a.startsWith("-") && a.length() > 1) {
                        throw new IllegalArgumentException("unknown option " + a + " (see ./skipjack convert --help)");
                    }
                    if (checkpoint != null) {
                        throw new IllegalArgumentException("more than one checkpoint given (" + checkpoint + ", " + a
                                + ")");
                    }
                    checkpoint = Path.of(a);
                }
            }
        }
        if (checkpoint == null || output == null) {
            throw new IllegalArgumentException("missing " + (checkpoint == null ? "CHECKPOINT" : "-o MODEL")
                    + "; usage: ./skipjack convert CHECKPOINT -o MODEL [--arch NAME] [--labels FILE]");
        }
        if (arch != null) {
            ResNetSpec.named(arch, 1000);
        }
        List<String> labels = labelsFile == null ? null : readLabels(labelsFile);

        var options = Converter.Options.defaults().withArch(arch).withLabels(labels);
        long size = Files.exists(checkpoint) ? Files.size(checkpoint) : 0;
        if (size >= PROGRESS_THRESHOLD) {
            err.printf(Locale.ROOT, "converting %s (%d MB)%n", checkpoint.getFileName(), size >> 20);
            options = options.withProgress(progress(err, output));
        }
        long start = System.nanoTime();
        Converter.Result r = Converter.convert(checkpoint, output, options);
        double seconds = (System.nanoTime() - start) / 1e9;
        out.printf(Locale.ROOT, "wrote %s: %s, %d tensors, %.2fM parameters, from a %s checkpoint, in %.2f s%n",
                output, r.spec().describe(), r.tensors(), r.parameters() / 1e6, r.format(), seconds);
        return 0;
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value (see ./skipjack convert --help)");
        }
        return args[i];
    }

    /** One label per line; trailing blank lines are dropped, a blank line inside is an error. */
    static List<String> readLabels(Path file) throws IOException {
        List<String> lines = new ArrayList<>(Files.readAllLines(file, StandardCharsets.UTF_8));
        while (!lines.isEmpty() && lines.getLast().isBlank()) {
            lines.removeLast();
        }
        for (int i = 0; i < lines.size(); i++) {
            lines.set(i, lines.get(i).strip());
            if (lines.get(i).isEmpty()) {
                throw new CheckpointException(file + ": line " + (i + 1) + " is blank; one label per line expected");
            }
        }
        return lines;
    }

    /** "writing model.skj: 10% 20% ... 100%" on one stderr line. */
    private static ModelFileWriter.Progress progress(PrintStream err, Path output) {
        return new ModelFileWriter.Progress() {
            private int printed = -10;

            @Override
            public void update(long done, long total) {
                int pct = total == 0 ? 100 : (int) (done * 100 / total);
                if (printed < 0) {
                    err.print("writing " + output.getFileName() + ":");
                    printed = 0;
                }
                while (printed + 10 <= pct) {
                    printed += 10;
                    err.print(" " + printed + "%");
                    if (printed == 100) {
                        err.println();
                    }
                }
                err.flush();
            }
        };
    }
}
