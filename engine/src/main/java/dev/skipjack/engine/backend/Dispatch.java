package dev.skipjack.engine.backend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * The backend of every layer of one model, decided once when the model loads from a {@link DispatchProfile},
 * and the backends themselves (the model's CPU backend and, where one was asked for and found, an
 * accelerator). Plans ask it for their {@link Step}s: one per maximal run of consecutive layers on the same
 * backend, so activations stay on a device between consecutive device layers and cross to the host only
 * where another backend reads them.
 *
 * <p>Where a profile asks for an accelerator and none can run (no backend module on the class path, the JVM
 * not started with the accelerator runtime's flags, no device), every layer runs on the CPU and
 * {@link #notice()} is the one line that says so.
 */
public final class Dispatch implements AutoCloseable {
    /** What the {@code auto} profile times each layer on when the model loads: one 224 x 224 image. */
    public static final int AUTO_BATCH = 1;
    public static final int AUTO_SIZE = 224;

    private final DispatchProfile profile;
    private final List<Layer> layers;
    private final Backend cpu;
    private final Backend accelerator; // null when no layer runs on one
    private final Backend[] backendOf;
    private final String[] reasons;
    private final double[] cpuSeconds;
    private final double[] acceleratorSeconds;
    private final String notice;
    private final int values;
    // readers[v]: indices of the layers that read value v.
    private final int[][] readers;

    private Dispatch(DispatchProfile profile, List<Layer> layers, Backend cpu, Backend accelerator,
                     Backend[] backendOf, String[] reasons, double[] cpuSeconds, double[] acceleratorSeconds,
                     String notice) {
        this.profile = profile;
        this.layers = List.copyOf(layers);
        this.cpu = cpu;
        this.accelerator = accelerator;
        this.backendOf = backendOf;
        this.reasons = reasons;
        this.cpuSeconds = cpuSeconds;
        this.acceleratorSeconds = acceleratorSeconds;
        this.notice = notice;
        int v = 1;
        for (Layer l : layers) {
            v = Math.max(v, l.output() + 1);
        }
        this.values = v;
        int[] count = new int[v];
        for (Layer l : layers) {
            for (int x = 0; x < v; x++) {
                if (l.reads(x)) {
                    count[x]++;
                }
            }
        }
        readers = new int[v][];
        for (int x = 0; x < v; x++) {
            readers[x] = new int[count[x]];
        }
        Arrays.fill(count, 0);
        for (Layer l : layers) {
            for (int x = 0; x < v; x++) {
                if (l.reads(x)) {
                    readers[x][count[x]++] = l.index();
                }
            }
        }
    }

    /** Every layer on {@code cpu}, for the {@code cpu} profile; nothing else is looked up or loaded. */
    public static Dispatch allOn(Backend cpu, List<Layer> layers) {
        return resolve(DispatchProfile.cpu(), layers, cpu, List.of());
    }

    /**
     * Decides the backend of every layer, looking accelerators up with {@link ServiceLoader} only when the
     * profile asks for one.
     *
     * @param layers the forward pass in order ({@link Layer#index()} = position); weights must be valid now
     */
    public static Dispatch resolve(DispatchProfile profile, List<Layer> layers, Backend cpu) {
        return resolve(profile, layers, cpu, null);
    }

    /** As {@link #resolve(DispatchProfile, List, Backend)}, with the providers given (null: ServiceLoader). */
    public static Dispatch resolve(DispatchProfile profile, List<Layer> layers, Backend cpu,
                                   List<BackendProvider> providers) {
        for (int i = 0; i < layers.size(); i++) {
            if (layers.get(i).index() != i) {
                throw new IllegalArgumentException("layer " + layers.get(i).name() + " has index "
                        + layers.get(i).index() + " at position " + i);
            }
        }
        int n = layers.size();
        var choices = new DispatchProfile.Choice[n];
        boolean wantsAccelerator = false;
        for (Layer l : layers) {
            choices[l.index()] = profile.choice(l.name());
            wantsAccelerator |= choices[l.index()] != DispatchProfile.Choice.CPU;
        }
        var backendOf = new Backend[n];
        var reasons = new String[n];
        var cpuSeconds = new double[n];
        var accSeconds = new double[n];
        Arrays.fill(cpuSeconds, Double.NaN);
        Arrays.fill(accSeconds, Double.NaN);
        Arrays.fill(backendOf, cpu);
        for (Layer l : layers) {
            reasons[l.index()] = profile.reason(l.name());
        }
        if (!wantsAccelerator) {
            return new Dispatch(profile, layers, cpu, null, backendOf, reasons, cpuSeconds, accSeconds, null);
        }

        var unavailable = new ArrayList<String>();
        Backend acc = openAccelerator(providers == null ? loadProviders(unavailable) : providers, layers,
                unavailable);
        if (acc == null) {
            String why = unavailable.isEmpty()
                    ? "no accelerator backend is on the class path (build the skipjack-gpu-tornadovm module with "
                    + "mvn -Ptornadovm; see docs/GPU.md)"
                    : String.join("; ", unavailable);
            long asked = Arrays.stream(choices).filter(c -> c != DispatchProfile.Choice.CPU).count();
            String what = asked == n ? "every layer runs" : "the " + asked + " layers it sends to gpu/auto run";
            String notice = oneLine("skipjack: profile " + profile.name() + ": " + why + "; " + what + " on the CPU");
            for (Layer l : layers) {
                if (choices[l.index()] != DispatchProfile.Choice.CPU) {
                    reasons[l.index()] = "no accelerator: " + reasons[l.index()] + " falls back to the CPU";
                }
            }
            return new Dispatch(profile, layers, cpu, null, backendOf, reasons, cpuSeconds, accSeconds, notice);
        }

        ActivationShapes timing = null;
        boolean used = false;
        try {
            for (Layer l : layers) {
                int i = l.index();
                if (choices[i] == DispatchProfile.Choice.CPU) {
                    continue;
                }
                String no = acc.unsupported(l);
                if (no != null) {
                    reasons[i] = acc.name() + " cannot run it: " + no;
                    continue;
                }
                if (choices[i] == DispatchProfile.Choice.GPU) {
                    backendOf[i] = acc;
                    used = true;
                    continue;
                }
                if (timing == null) {
                    timing = ActivationShapes.infer(layers, AUTO_BATCH, AUTO_SIZE, AUTO_SIZE);
                }
                cpuSeconds[i] = cpu.time(l, timing);
                try {
                    accSeconds[i] = acc.time(l, timing);
                } catch (RuntimeException e) {
                    reasons[i] = "auto: " + acc.name() + " failed to run it (" + oneLine(String.valueOf(e.getMessage()))
                            + ")";
                    continue;
                }
                boolean faster = accSeconds[i] < cpuSeconds[i];
                if (faster) {
                    backendOf[i] = acc;
                    used = true;
                }
                String base = profile.rules().isEmpty() ? "auto" : reasons[i] + ", auto";
                reasons[i] = base + ": " + (faster ? acc.name() : cpu.name()) + " was faster";
            }
        } catch (RuntimeException | Error e) {
            acc.close();
            throw e;
        }
        if (!used) {
            acc.close();
            acc = null;
        }
        return new Dispatch(profile, layers, cpu, acc, backendOf, reasons, cpuSeconds, accSeconds, null);
    }

    private static List<BackendProvider> loadProviders(List<String> problems) {
        var found = new ArrayList<BackendProvider>();
        Iterator<BackendProvider> it = ServiceLoader.load(BackendProvider.class).iterator();
        while (true) {
            try {
                if (!it.hasNext()) {
                    break;
                }
                found.add(it.next());
            } catch (ServiceConfigurationError | LinkageError e) {
                // A provider jar whose runtime is missing (e.g. tornado-api not on the path) must not break the CPU.
                problems.add("an accelerator backend failed to load: " + e.getMessage());
            }
        }
        return found;
    }

    private static Backend openAccelerator(List<BackendProvider> providers, List<Layer> layers, List<String> problems) {
        for (BackendProvider p : providers) {
            String no;
            try {
                no = p.unavailable();
            } catch (RuntimeException | LinkageError e) {
                no = "its availability check failed: " + e;
            }
            if (no != null) {
                problems.add(p.name() + " is unavailable: " + no);
                continue;
            }
            try {
                return p.open(layers);
            } catch (RuntimeException | LinkageError e) {
                problems.add(p.name() + " failed to start: " + e.getMessage());
            }
        }
        return null;
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\s*\\R\\s*", " ").strip();
    }

    /**
     * The steps of a plan for {@code shapes}: one per maximal run of consecutive layers on the same backend,
     * in execution order.
     */
    public Step[] steps(ActivationShapes shapes) {
        var steps = new ArrayList<Step>();
        int n = layers.size();
        for (int start = 0; start < n; ) {
            Backend b = backendOf[start];
            int end = start + 1;
            while (end < n && backendOf[end] == b) {
                end++;
            }
            boolean[] onHost = new boolean[values];
            for (int i = start; i < end; i++) {
                int v = layers.get(i).output();
                boolean host = i == n - 1;
                for (int r : readers[v]) {
                    host |= r < start || r >= end;
                }
                onHost[v] = host;
            }
            steps.add(b.compile(layers.subList(start, end), shapes, onHost));
            start = end;
        }
        return steps.toArray(new Step[0]);
    }

    /** The one line saying an accelerator was asked for but every layer runs on the CPU, or null. */
    public String notice() {
        return notice;
    }

    public DispatchProfile profile() {
        return profile;
    }

    /** The backend name ({@code cpu}, {@code tornadovm}) that runs layer {@code index}. */
    public String backendOf(int index) {
        return backendOf[index].name();
    }

    /** Layers run by a backend other than the CPU. */
    public int acceleratedLayers() {
        int c = 0;
        for (Backend b : backendOf) {
            c += b == cpu ? 0 : 1;
        }
        return c;
    }

    /** The printed plan: each layer, where it runs and why (with the {@code auto} timings where measured). */
    public String describe() {
        var sb = new StringBuilder();
        sb.append("dispatch plan (profile ").append(profile.name()).append("): cpu = ").append(cpu.device());
        if (accelerator != null) {
            sb.append(", ").append(accelerator.name()).append(" = ").append(accelerator.device());
        }
        // The fallback notice is not repeated here: the model printed it once, on stderr, when it loaded.
        sb.append('\n');
        boolean timed = Arrays.stream(cpuSeconds).anyMatch(d -> !Double.isNaN(d));
        int width = 5;
        for (Layer l : layers) {
            width = Math.max(width, l.name().length());
        }
        String header = timed ? String.format(Locale.ROOT, "  %-" + width + "s  %-9s  %10s  %10s  %s%n", "layer",
                "runs on", "cpu ms", "gpu ms", "why")
                : String.format(Locale.ROOT, "  %-" + width + "s  %-9s  %s%n", "layer", "runs on", "why");
        sb.append(header);
        for (Layer l : layers) {
            int i = l.index();
            if (timed) {
                sb.append(String.format(Locale.ROOT, "  %-" + width + "s  %-9s  %10s  %10s  %s%n", l.name(),
                        backendOf[i].name(), ms(cpuSeconds[i]), ms(acceleratorSeconds[i]), reasons[i]));
            } else {
                sb.append(String.format(Locale.ROOT, "  %-" + width + "s  %-9s  %s%n", l.name(), backendOf[i].name(),
                        reasons[i]));
            }
        }
        if (timed) {
            sb.append(String.format(Locale.ROOT, "  (auto timed each layer alone at [%d][3][%d][%d], best of 5 after a "
                    + "warm-up; gpu ms is device time without host-device copies)%n", AUTO_BATCH, AUTO_SIZE, AUTO_SIZE));
        }
        sb.append(String.format(Locale.ROOT, "  %d of %d layers on %s%n", acceleratedLayers(), layers.size(),
                accelerator == null ? "an accelerator" : accelerator.name()));
        return sb.toString();
    }

    private static String ms(double seconds) {
        return Double.isNaN(seconds) ? "-" : String.format(Locale.ROOT, "%.3f", seconds * 1e3);
    }

    /** Closes the accelerator (the CPU backend belongs to the model). Idempotent. */
    @Override
    public void close() {
        if (accelerator != null) {
            accelerator.close();
        }
    }

    @Override
    public String toString() {
        return describe();
    }
}
