package dev.skipjack.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Entry point of {@code ./skipjack}: dispatches to the subcommands. Each subcommand is a {@link Command} that
 * returns its exit status; failures print one clear line to stderr and exit non-zero.
 */
public final class Main {
    /** A subcommand: parses its own arguments, returns the process exit status. */
    public interface Command {
        int run(String[] args) throws Exception;
    }

    private record Entry(String summary, Command command) {}

    private static final Map<String, Entry> COMMANDS = new LinkedHashMap<>();

    static {
        // name -> (one-line summary, implementation); keep in the order the README presents them.
        COMMANDS.put("convert", new Entry("convert a PyTorch checkpoint into a Skipjack model file",
                dev.skipjack.weights.ConvertCommand::run));
        COMMANDS.put("inspect", new Entry("list the tensors of a model file or a PyTorch checkpoint",
                dev.skipjack.weights.InspectCommand::run));
        COMMANDS.put("classify", new Entry("print the top-K ImageNet classes of images", ClassifyCommand::run));
        COMMANDS.put("run", new Entry("run a model on a raw float32 tensor, write raw float32 logits",
                RunCommand::run));
        COMMANDS.put("bench", new Entry("time Skipjack (seeded ResNet-50 or a model file), side by side with ONNX Runtime",
                dev.skipjack.bench.BenchCommand::run));
        COMMANDS.put("aot-training", new Entry("the training run ./skipjack aot-cache records (load, classify, run)",
                AotTrainingCommand::run));
    }

    private Main() {}

    public static void main(String[] args) {
        StartupStats.mainStarted();
        System.exit(run(args, System.err));
    }

    static int run(String[] args, PrintStream err) {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help") || args[0].equals("help")) {
            usage(args.length == 0 ? err : System.out);
            return args.length == 0 ? 2 : 0;
        }
        Entry e = COMMANDS.get(args[0]);
        if (e == null) {
            err.println("skipjack: unknown command '" + args[0] + "' (try ./skipjack --help)");
            return 2;
        }
        try {
            return e.command().run(Arrays.copyOfRange(args, 1, args.length));
        } catch (Exception ex) {
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            err.println("skipjack " + args[0] + ": " + msg);
            if (System.getenv("SKIPJACK_DEBUG") != null) {
                ex.printStackTrace(err);
            }
            return 1;
        }
    }

    private static void usage(PrintStream out) {
        out.println("usage: ./skipjack COMMAND [ARGS...]");
        out.println();
        for (var e : COMMANDS.entrySet()) {
            out.printf("  %-12s %s%n", e.getKey(), e.getValue().summary());
        }
        out.println("  test         generate the PyTorch reference fixtures if needed and run the test suite");
        out.println("  aot-cache    make the JVM's ahead-of-time cache (faster start-up) from an aot-training run");
        out.println();
        out.println("Run ./skipjack COMMAND --help for a command's options. SKIPJACK_DEBUG=1 prints stack traces.");
    }
}
