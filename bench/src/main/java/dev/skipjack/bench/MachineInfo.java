package dev.skipjack.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * What a history line needs to say where a number came from: the CPU (model and the vector extensions that
 * decide which kernels can run), the core count, the JDK, and the source revision.
 *
 * @param cores    processors the JVM may use
 * @param cpuModel /proc/cpuinfo's "model name", or os.arch where there is none
 * @param cpuFlags the SIMD flags that matter to Skipjack, of those the CPU reports (avx2, fma, avx512f, ...)
 * @param os       os.name and os.version
 * @param jdk      java.runtime.version and java.vm.name
 * @param git      the commit of the source tree the bench was built from, null when not found
 * @param gitDirty whether that tree had uncommitted changes to tracked files (null when unknown)
 */
record MachineInfo(int cores, String cpuModel, List<String> cpuFlags, String os, String jdk, String git,
                   Boolean gitDirty) {
    private static final Set<String> FLAGS_OF_INTEREST =
            Set.of("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
                    "avx512_vnni", "amx_tile", "neon", "asimd", "sve");

    /** Looks the machine up; never fails (unknown parts read "unknown" or null). */
    static MachineInfo detect() {
        String cpuinfo = "";
        try {
            cpuinfo = Files.readString(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            // Not Linux: the model name falls back to the architecture.
        }
        String model = cpuModel(cpuinfo);
        String[] git = gitRevision();
        return new MachineInfo(Runtime.getRuntime().availableProcessors(),
                model != null ? model : System.getProperty("os.arch"),
                cpuFlags(cpuinfo),
                System.getProperty("os.name") + " " + System.getProperty("os.version"),
                System.getProperty("java.runtime.version") + " (" + System.getProperty("java.vm.name") + ")",
                git == null ? null : git[0], git == null ? null : Boolean.valueOf(git[1]));
    }

    /** The first "model name" (x86) or "Model"/"CPU part" (ARM) entry of a /proc/cpuinfo text, or null. */
    static String cpuModel(String cpuinfo) {
        for (String key : List.of("model name", "Model", "cpu model")) {
            String v = field(cpuinfo, key);
            if (v != null && !v.isEmpty()) {
                return v;
            }
        }
        return null;
    }

    /** The SIMD flags of interest that the first "flags" (x86) or "Features" (ARM) line lists, sorted. */
    static List<String> cpuFlags(String cpuinfo) {
        String line = field(cpuinfo, "flags");
        if (line == null) {
            line = field(cpuinfo, "Features");
        }
        Set<String> found = new TreeSet<>();
        if (line != null) {
            for (String f : line.split("\\s+")) {
                if (FLAGS_OF_INTEREST.contains(f)) {
                    found.add(f);
                }
            }
        }
        return List.copyOf(found);
    }

    private static String field(String cpuinfo, String key) {
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).strip().equals(key)) {
                return line.substring(colon + 1).strip();
            }
        }
        return null;
    }

    /**
     * {commit, dirty} of the checkout the bench's classes were built in (found by walking up from where they
     * were loaded), else of the working directory; null when git or a checkout is not there.
     */
    private static String[] gitRevision() {
        Path start = null;
        try {
            var src = MachineInfo.class.getProtectionDomain().getCodeSource();
            if (src != null) {
                start = Path.of(src.getLocation().toURI()).toAbsolutePath();
            }
        } catch (Exception e) {
            // Unusual class loader: fall back to the working directory.
        }
        for (Path p = start; p != null; p = p.getParent()) {
            if (Files.exists(p.resolve(".git"))) {
                String[] r = git(p);
                if (r != null) {
                    return r;
                }
                break;
            }
        }
        return git(Path.of("").toAbsolutePath());
    }

    private static String[] git(Path dir) {
        String commit = runGit(dir, "rev-parse", "HEAD");
        if (commit == null || !commit.matches("[0-9a-f]{40}")) {
            return null;
        }
        String status = runGit(dir, "status", "--porcelain", "--untracked-files=no");
        return new String[] {commit, status == null ? null : String.valueOf(!status.isEmpty())};
    }

    private static String runGit(Path dir, String... args) {
        try {
            var cmd = new java.util.ArrayList<String>(List.of("git", "-C", dir.toString()));
            cmd.addAll(List.of(args));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(false)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroy();
                return null;
            }
            return p.exitValue() == 0 ? new String(out, StandardCharsets.UTF_8).strip() : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** The machine as a JSON object for the history line. */
    Map<String, Object> toJson() {
        var m = new LinkedHashMap<String, Object>();
        m.put("cores", cores);
        m.put("cpu", cpuModel);
        m.put("cpu_flags", cpuFlags);
        m.put("os", os);
        return m;
    }
}
