package dev.skipjack.engine.backend;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Which backend runs each layer: the built-in profiles {@code cpu} (everything on the CPU, the default),
 * {@code gpu} (every layer the accelerator supports on the accelerator) and {@code auto} (each layer timed
 * once on each backend when the model loads, the faster kept), or a profile file that pins layers.
 *
 * <p>A profile file is plain text, one rule per line: {@code PATTERN = cpu|gpu|auto}. PATTERN is a layer
 * name or a glob over layer names ({@code *} any characters, dots included; {@code ?} one character). Layer
 * names follow torchvision's modules: {@code conv1}, {@code maxpool}, {@code layer3.1.conv2},
 * {@code layer3.0.downsample.0}, {@code avgpool}, {@code fc}. When several rules match a layer the last one
 * wins; a layer no rule matches runs on the CPU. {@code #} starts a comment; blank lines are ignored.
 * <pre>
 * # everything on the GPU except the classifier
 * *  = gpu
 * fc = cpu
 * </pre>
 */
public final class DispatchProfile {
    /** Where a profile sends a layer. */
    public enum Choice {
        CPU, GPU, AUTO;

        String word() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** One line of a profile file. */
    public record Rule(int line, String pattern, Choice choice) {
        boolean matches(String layer) {
            return glob(pattern).matcher(layer).matches();
        }
    }

    private static final DispatchProfile CPU = new DispatchProfile("cpu", Choice.CPU, List.of());
    private static final DispatchProfile GPU = new DispatchProfile("gpu", Choice.GPU, List.of());
    private static final DispatchProfile AUTO = new DispatchProfile("auto", Choice.AUTO, List.of());

    private final String name;
    private final Choice fallback;
    private final List<Rule> rules;

    private DispatchProfile(String name, Choice fallback, List<Rule> rules) {
        this.name = name;
        this.fallback = fallback;
        this.rules = List.copyOf(rules);
    }

    /** Everything on the CPU (the default). */
    public static DispatchProfile cpu() {
        return CPU;
    }

    /** Every layer the accelerator supports on the accelerator. */
    public static DispatchProfile gpu() {
        return GPU;
    }

    /** Each layer on whichever backend ran it faster when the model loaded. */
    public static DispatchProfile auto() {
        return AUTO;
    }

    /**
     * {@code cpu}, {@code gpu}, {@code auto}, or else the path of a profile file (write {@code ./gpu} for a
     * file that happens to be called like a built-in profile).
     *
     * @throws IllegalArgumentException if it is neither a built-in name nor an existing file, or the file is
     *                                  malformed (the message names the file and line)
     * @throws IOException              if the file cannot be read
     */
    public static DispatchProfile of(String nameOrFile) throws IOException {
        switch (nameOrFile) {
            case "cpu":
                return CPU;
            case "gpu":
                return GPU;
            case "auto":
                return AUTO;
            default:
                break;
        }
        Path file = Path.of(nameOrFile);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("profile '" + nameOrFile + "' is not cpu, gpu or auto, and there is "
                    + "no such file");
        }
        return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
    }

    /**
     * Parses the text of a profile file; {@code origin} (the file name) prefixes error messages.
     *
     * @throws IllegalArgumentException naming {@code origin}, the line and what is wrong with it
     */
    public static DispatchProfile parse(String text, String origin) {
        var rules = new ArrayList<Rule>();
        String[] lines = text.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            int hash = line.indexOf('#');
            if (hash >= 0) {
                line = line.substring(0, hash);
            }
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            String where = origin + ":" + (i + 1) + ": ";
            int eq = line.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException(where + "expected 'LAYER-OR-GLOB = cpu|gpu|auto', got '" + line + "'");
            }
            String pattern = line.substring(0, eq).strip();
            String value = line.substring(eq + 1).strip();
            if (pattern.isEmpty()) {
                throw new IllegalArgumentException(where + "no layer name or glob before '='");
            }
            if (pattern.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException(where + "layer pattern '" + pattern + "' contains a space");
            }
            Choice choice = switch (value) {
                case "cpu" -> Choice.CPU;
                case "gpu" -> Choice.GPU;
                case "auto" -> Choice.AUTO;
                default -> throw new IllegalArgumentException(where + "unknown backend '" + value + "' for '" + pattern
                        + "' (expected cpu, gpu or auto)");
            };
            rules.add(new Rule(i + 1, pattern, choice));
        }
        if (rules.isEmpty()) {
            throw new IllegalArgumentException(origin + ": the profile has no rules (expected lines like "
                    + "'layer4.* = gpu')");
        }
        return new DispatchProfile("file " + origin, Choice.CPU, rules);
    }

    /** "cpu", "gpu", "auto" or "file NAME". */
    public String name() {
        return name;
    }

    /** The rules of a profile file (empty for the built-in profiles). */
    public List<Rule> rules() {
        return rules;
    }

    /** The rule that decides {@code layer}, or null when none matches (then {@link #choice} is the default). */
    public Rule ruleFor(String layer) {
        Rule found = null;
        for (Rule r : rules) {
            if (r.matches(layer)) {
                found = r;
            }
        }
        return found;
    }

    /** Where this profile sends {@code layer}. */
    public Choice choice(String layer) {
        Rule r = ruleFor(layer);
        return r == null ? fallback : r.choice();
    }

    /** Why {@code layer} goes where {@link #choice} says, for the printed plan. */
    String reason(String layer) {
        if (rules.isEmpty()) {
            return "profile " + name;
        }
        Rule r = ruleFor(layer);
        return r == null ? "no rule matches (default cpu)" : "rule '" + r.pattern() + " = " + r.choice().word()
                + "' (line " + r.line() + ")";
    }

    static Pattern glob(String glob) {
        var re = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            switch (c) {
                case '*' -> re.append(".*");
                case '?' -> re.append('.');
                default -> re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(re.toString());
    }

    @Override
    public String toString() {
        return name;
    }
}
