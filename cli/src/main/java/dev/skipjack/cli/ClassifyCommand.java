package dev.skipjack.cli;

import dev.skipjack.engine.Prediction;
import dev.skipjack.engine.ResNet;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** {@code ./skipjack classify}: the top-K classes of images, with names and softmax probabilities. */
public final class ClassifyCommand {
    private ClassifyCommand() {}

    /** Images decoded and run per forward pass: bounds memory for long image lists. */
    private static final int BATCH = 8;

    private static final String USAGE = """
            usage: ./skipjack classify --model MODEL [--top K] [--json] [--threads T] [--profile P] [--stats] IMAGE...

            Decodes each image (PNG, JPEG, BMP, GIF), preprocesses it like torchvision's ImageNet transform
            (resize the shorter side to 256, center crop 224, normalize), runs the model and prints the K most
            probable classes with their names (the model file's labels, else ImageNet's) and probabilities.

              --model MODEL   a Skipjack model file (./skipjack convert makes one from a PyTorch checkpoint)
              --top K         classes per image (default 5)
              --json          print one JSON document instead of text
              --threads T     threads to run on (default: all cores)
            """ + ProfileOption.HELP + "\n" + StartupStats.HELP + "\n";

    public static int run(String[] args) throws Exception {
        return run(args, System.out, System.err);
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Options o;
        try {
            o = Options.parse(args, Set.of("model", "top", "threads", "profile"), Set.of("json", "stats"));
            if (o.has("help")) {
                out.print(USAGE);
                return 0;
            }
            o.require("model");
            if (o.positional().isEmpty()) {
                throw new Options.UsageException("no images given");
            }
        } catch (Options.UsageException e) {
            err.println("skipjack classify: " + e.getMessage() + " (try ./skipjack classify --help)");
            return 2;
        }
        int top;
        int threads;
        dev.skipjack.engine.backend.DispatchProfile profile;
        try {
            top = o.positiveInt("top", 5);
            threads = o.positiveInt("threads", ResNet.Options.defaults().threads());
            profile = ProfileOption.parse(o);
        } catch (Options.UsageException e) {
            err.println("skipjack classify: " + e.getMessage());
            return 2;
        }
        Path modelPath = Path.of(o.get("model"));
        if (!Files.isRegularFile(modelPath)) {
            err.println("skipjack classify: " + modelPath + ": no such model file");
            return 1;
        }
        List<Path> images = o.positional().stream().map(Path::of).toList();
        var results = new ArrayList<List<Prediction>>(images.size());
        try (ResNet model = ResNet.load(modelPath, new ResNet.Options(threads).withProfile(profile))) {
            ProfileOption.printPlan(o, model, err);
            for (int i = 0; i < images.size(); i += BATCH) {
                long t0 = System.nanoTime();
                List<Path> batch = images.subList(i, Math.min(images.size(), i + BATCH));
                results.addAll(model.classify(batch, top));
                if (i == 0 && o.has("stats")) {
                    int crop = model.preprocessing().crop();
                    StartupStats.print(err, model, "first classify (decode, preprocess, inference)",
                            System.nanoTime() - t0, -1, Instant.now(), batch.size(), crop, crop);
                }
            }
        }
        if (o.has("json")) {
            printJson(out, images, results);
        } else {
            for (int i = 0; i < images.size(); i++) {
                out.println(images.get(i));
                int rank = 1;
                for (Prediction p : results.get(i)) {
                    out.printf(Locale.ROOT, "  %2d. %7.3f%%  %s (%d)%n", rank++, 100 * p.probability(), p.label(),
                            p.classId());
                }
            }
        }
        return 0;
    }

    private static void printJson(PrintStream out, List<Path> images, List<List<Prediction>> results) {
        var b = new StringBuilder("[");
        for (int i = 0; i < images.size(); i++) {
            b.append(i == 0 ? "\n" : ",\n").append("  {\"image\": ").append(quote(images.get(i).toString()))
                    .append(", \"predictions\": [");
            List<Prediction> ps = results.get(i);
            for (int j = 0; j < ps.size(); j++) {
                Prediction p = ps.get(j);
                b.append(j == 0 ? "" : ", ").append(String.format(Locale.ROOT,
                        "{\"class\": %d, \"label\": %s, \"probability\": %.6g}", p.classId(), quote(p.label()),
                        p.probability()));
            }
            b.append("]}");
        }
        out.println(b.append(images.isEmpty() ? "]" : "\n]"));
    }

    static String quote(String s) {
        var b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
