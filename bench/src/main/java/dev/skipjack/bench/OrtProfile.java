package dev.skipjack.bench;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ONNX Runtime's own time per node, from its profiler, for {@code ./skipjack bench --layers --onnx}: the same
 * passes Skipjack's layer table times, put beside it layer by layer. ONNX Runtime's optimizer fuses each
 * convolution with its batch norm, residual add and ReLU and renames the fused node after the last output it
 * computes; {@link #moduleOf} maps those names back to the torchvision module (a convention of the
 * exports torch.onnx makes of torchvision ResNets, not a contract: a node it cannot place is reported apart).
 */
final class OrtProfile {
    /** One node: its name in the profile, its operator, the median of its time over the profiled runs. */
    record Node(String name, String op, double seconds) {}

    private OrtProfile() {}

    /**
     * Runs {@code onnx} {@code warmup + runs} times on {@code input} ([n][3][h][w] float32) in a session of its
     * own with the profiler on, and returns every node's median time over the last {@code runs} runs, in the
     * order the nodes first ran. The profile file goes to a temporary directory, deleted afterwards.
     */
    static List<Node> measure(Path onnx, int threads, MemorySegment input, int n, int h, int w, int warmup, int runs)
            throws Exception {
        Path dir = Files.createTempDirectory("skipjack-ort-profile");
        try {
            Path file;
            try (OrtRunner ort = OrtRunner.open(onnx, threads, dir.resolve("ort"))) {
                ort.bind(input, n, h, w);
                for (int i = 0; i < warmup + runs; i++) {
                    ort.run();
                }
                file = ort.endProfiling();
            }
            return parse(Files.readString(file), runs);
        } finally {
            // the profile, and anything else ONNX Runtime left there
            try (var left = Files.list(dir)) {
                for (Path p : left.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    // The profile is a JSON array of events, each an object starting {"cat" : ...}. A node's kernel time has
    // "cat" : "Node", a "dur" in microseconds, a "name" ending in _kernel_time and its "op_name" in args (its
    // fence events, also "Node", have other names). Matched one event at a time, so that no match spans two.
    private static final Pattern EVENT_START = Pattern.compile("(?=\\{\\s*\"cat\"\\s*:)");
    private static final Pattern KERNEL_TIME = Pattern.compile("^\\{\\s*\"cat\"\\s*:\\s*\"Node\".*?\"dur\"\\s*:\\s*(\\d+)"
            + ".*?\"name\"\\s*:\\s*\"([^\"]*)_kernel_time\".*?\"op_name\"\\s*:\\s*\"([^\"]*)\"", Pattern.DOTALL);

    /**
     * The nodes of a profile, each with the median of its last {@code runs} kernel times.
     *
     * @throws IOException if the text holds no node times, or a node ran fewer than {@code runs} times
     */
    static List<Node> parse(String json, int runs) throws IOException {
        Map<String, List<Long>> micros = new LinkedHashMap<>();
        Map<String, String> ops = new LinkedHashMap<>();
        for (String event : EVENT_START.split(json)) {
            Matcher m = KERNEL_TIME.matcher(event);
            if (m.find()) {
                micros.computeIfAbsent(m.group(2), k -> new ArrayList<>()).add(Long.parseLong(m.group(1)));
                ops.put(m.group(2), m.group(3));
            }
        }
        if (micros.isEmpty()) {
            throw new IOException("ONNX Runtime's profile has no node times (no \"Node\" events with a _kernel_time)");
        }
        var out = new ArrayList<Node>();
        for (var e : micros.entrySet()) {
            List<Long> all = e.getValue();
            if (all.size() < runs) {
                throw new IOException("ONNX Runtime's profile has " + all.size() + " times for node '" + e.getKey()
                        + "', expected at least " + runs);
            }
            long[] last = all.subList(all.size() - runs, all.size()).stream().mapToLong(Long::longValue).toArray();
            Arrays.sort(last);
            double median = last.length % 2 == 1 ? last[last.length / 2]
                    : (last[last.length / 2 - 1] + last[last.length / 2]) / 2.0;
            out.add(new Node(e.getKey(), ops.get(e.getKey()), median * 1e-6));
        }
        return out;
    }

    // torchvision's ReLU modules: relu, relu_1, relu_2
    private static final Pattern RELU = Pattern.compile("relu(?:_(\\d+))?");

    /**
     * The torchvision module a node computes, or null: "/layer1/layer1.0/conv3/Conv_output_0_nchwc" is
     * layer1.0.conv3; a convolution fused with the ReLU after it is named after that ReLU, and in torchvision's
     * blocks ReLU i (relu, relu_1, relu_2) follows convolution i + 1, so "/layer2/layer2.1/relu_1/Relu..." is
     * layer2.1.conv2 and the stem's "/relu/Relu..." is conv1; "/layer2/layer2.0/downsample/downsample.0/Conv"
     * is layer2.0.downsample.0. Nodes ONNX Runtime adds itself (ReorderInput, ...) have no module.
     */
    static String moduleOf(String node) {
        if (!node.startsWith("/")) {
            return null;
        }
        String[] parts = node.substring(1).split("/");
        if (parts.length < 2) {
            return null;
        }
        // Each part but the last (the operator and its output) names a module, relative to the part before it
        // or, where it repeats that part's prefix (layer1 -> layer1.0, downsample -> downsample.0), extending it.
        String module = "";
        String prev = "";
        for (int i = 0; i < parts.length - 1; i++) {
            String p = parts[i];
            if (!prev.isEmpty() && p.startsWith(prev + ".")) {
                module = module.substring(0, module.length() - prev.length()) + p;
            } else {
                module = module.isEmpty() ? p : module + "." + p;
            }
            prev = p;
        }
        int dot = module.lastIndexOf('.');
        String last = module.substring(dot + 1);
        String parent = dot < 0 ? "" : module.substring(0, dot + 1);
        Matcher relu = RELU.matcher(last);
        if (relu.matches()) {
            int i = relu.group(1) == null ? 0 : Integer.parseInt(relu.group(1));
            return parent + "conv" + (i + 1);
        }
        return module;
    }

    /** ONNX Runtime's time per torchvision module (nodes of one module summed), and the nodes it could not place. */
    record ByModule(Map<String, Double> seconds, List<Node> unplaced) {}

    static ByModule byModule(List<Node> nodes) {
        Map<String, Double> seconds = new LinkedHashMap<>();
        List<Node> unplaced = new ArrayList<>();
        for (Node nd : nodes) {
            String module = moduleOf(nd.name());
            if (module == null) {
                unplaced.add(nd);
            } else {
                seconds.merge(module, nd.seconds(), Double::sum);
            }
        }
        return new ByModule(seconds, unplaced);
    }
}
