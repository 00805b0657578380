package dev.skipjack.engine;

import dev.skipjack.engine.backend.Dispatch;
import dev.skipjack.engine.backend.DispatchProfile;
import dev.skipjack.engine.image.ImageDecoder;
import dev.skipjack.engine.image.ImageNetTransform;
import dev.skipjack.engine.kernels.Kernels;
import dev.skipjack.engine.model.Architectures;
import dev.skipjack.engine.model.CpuBackend;
import dev.skipjack.engine.model.ExecutionContexts;
import dev.skipjack.engine.model.LayerProfile;
import dev.skipjack.engine.model.Layers;
import dev.skipjack.engine.model.Network;
import dev.skipjack.engine.model.Plan;
import dev.skipjack.engine.model.ResNetGraph;
import dev.skipjack.engine.model.SeededWeights;
import dev.skipjack.engine.model.WeightLoader;
import dev.skipjack.engine.runtime.CountingArena;
import dev.skipjack.engine.runtime.JitActivity;
import dev.skipjack.engine.runtime.Parallel;
import dev.skipjack.format.ModelFile;
import dev.skipjack.format.ModelFormatException;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.Metadata;
import dev.skipjack.format.proto.Preprocessing;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A torchvision ResNet (18/34/50/101/152, ResNeXt, wide) ready to run on the CPU (and, with the optional
 * TornadoVM backend and a {@linkplain Options#profile() dispatch profile} that asks for it, on a GPU).
 *
 * <pre>{@code
 * try (var model = ResNet.load(Path.of("resnet50.skj"))) {
 *     float[] logits = model.predict(batch, n, 224, 224); // batch: float32 NCHW [n][3][224][224]
 * }
 * }</pre>
 *
 * <p>Loading validates the file against its architecture, folds every batch norm into its convolution and
 * packs the weights for the kernels. Inference works for any batch size and any height and width that
 * torchvision accepts; the activation buffers for an input shape are planned and allocated on its first use
 * and reused afterwards. {@code predict} may be called from several threads at once: each call runs in its
 * own execution context (buffers), and the results do not depend on what runs concurrently.
 *
 * <p>The model owns native memory and a thread pool: {@link #close()} it. Close is idempotent and waits for
 * running inferences; any use after close throws {@link IllegalStateException}.
 */
public final class ResNet implements AutoCloseable {
    /** Loading options. */
    public record Options(int threads, boolean checkInputs, DispatchProfile profile) {
        /**
         * @param threads     threads one inference uses, the calling thread included; at least 1
         * @param profile     which backend runs each layer (see {@link DispatchProfile}; docs/GPU.md)
         * @param checkInputs scan every input for NaN and infinities before running, and the logits after,
         *                    and throw {@link IllegalArgumentException} naming the image and position instead of
         *                    returning logits a NaN or an overflow has made meaningless (costs one pass over
         *                    the input; off by default)
         * @param profile     which backend runs each layer (see {@link DispatchProfile} and docs/GPU.md; the
         *                    default {@link DispatchProfile#cpu()} runs everything on the CPU)
         */
        public Options {
            if (threads < 1) {
                throw new IllegalArgumentException("threads must be >= 1, got " + threads);
            }
            if (profile == null) {
                throw new IllegalArgumentException("profile must not be null (DispatchProfile.cpu() is the default)");
            }
        }

        /** {@code threads} threads, inputs not checked, every layer on the CPU. */
        public Options(int threads) {
            this(threads, false, DispatchProfile.cpu());
        }

        /** Every layer on the CPU. */
        public Options(int threads, boolean checkInputs) {
            this(threads, checkInputs, DispatchProfile.cpu());
        }

        /** One thread per available processor, every layer on the CPU. */
        public static Options defaults() {
            return new Options(Runtime.getRuntime().availableProcessors());
        }

        /** These options with input checking on or off. */
        public Options withCheckInputs(boolean check) {
            return new Options(threads, check, profile);
        }

        /** These options with another dispatch profile. */
        public Options withProfile(DispatchProfile profile) {
            return new Options(threads, checkInputs, profile);
        }
    }

    /**
     * Where the time of {@link #load} went, in nanoseconds: reading (mapping the file, checking every CRC,
     * parsing the header; generating the weights for {@link #seeded}), preparing (validating, folding batch
     * norm, packing the weights for the kernels, choosing a backend per layer) and warming the kernels up
     * until the JIT has compiled them, then running the model at its image size until its passes settle (once
     * per process: 0 for every model after the first).
     */
    public record LoadTimes(long readNanos, long prepareNanos, long warmUpNanos) {
        /** The whole load. */
        public long totalNanos() {
            return readNanos + prepareNanos + warmUpNanos;
        }
    }

    /**
     * The host memory of a model, in bytes, as the engine itself allocates it (what the JVM, its heap and the
     * mapped file add is the process's business; see bench/README.md for process-level numbers).
     *
     * @param weightBytes the model's float32 tensors as the file holds them (parameters and batch-norm
     *                    statistics): the yardstick
     * @param packedBytes what the model keeps for its whole life: every weight folded and packed into the
     *                    kernels' layouts (Winograd's transformed 3x3 weights are 16/9 the size), biases, fc
     * @param planBytes   what one inference of the asked shape adds: its activation buffers and the kernels'
     *                    scratch (each concurrent caller holds its own, up to four)
     */
    public record MemoryUse(long weightBytes, long packedBytes, long planBytes) {
        /** Packed weights plus one inference's buffers: the engine's peak for one caller after loading. */
        public long totalBytes() {
            return packedBytes + planBytes;
        }
    }

    private static final String IMAGENET_CLASSES = "imagenet_classes.txt";

    private final Architecture architecture;
    private final List<String> labels;
    private final ImageNetTransform transform;
    private final ResNetGraph graph;
    private final Arena arena;
    private final Parallel parallel;
    private final ExecutionContexts contexts;
    private final boolean checkInputs;
    private final Dispatch dispatch;
    private final Network network;
    private LoadTimes loadTimes; // set once by build, after the warm-up that runs the model itself
    private final long packedBytes;

    private ResNet(Architecture architecture, List<String> labels, ImageNetTransform transform, ResNetGraph graph,
            Arena arena, Parallel parallel, Network network, boolean checkInputs, Dispatch dispatch,
            long packedBytes) {
        this.packedBytes = packedBytes;
        this.checkInputs = checkInputs;
        this.architecture = architecture;
        this.labels = labels;
        this.transform = transform;
        this.graph = graph;
        this.arena = arena;
        this.parallel = parallel;
        this.dispatch = dispatch;
        this.network = network;
        this.contexts = new ExecutionContexts(network, parallel, dispatch);
    }

    /** Loads a model file with {@link Options#defaults()}. */
    public static ResNet load(Path modelFile) throws IOException {
        return load(modelFile, Options.defaults());
    }

    /**
     * Loads a Skipjack model file (see {@code src/proto/skipjack_model.proto}). Every tensor the architecture
     * needs must be present as float32 with its exact shape, and no other parameter may be: errors are
     * {@link ModelFormatException}s naming the file, the tensor and the expected and actual shapes. Before any
     * kernel reads a weight the whole file is checked (docs/SECURITY.md): header within
     * {@link dev.skipjack.format.ReadLimits#defaults()}, every tensor inside the file and aligned, every CRC-32,
     * shapes against the architecture, and every weight finite; a corrupt, truncated or hostile file is a
     * {@link ModelFormatException}, never a crash.
     */
    public static ResNet load(Path modelFile, Options options) throws IOException {
        long started = System.nanoTime();
        // The kernels pack every weight into their own layout, so the mapping is read once, here, and released
        // when loading ends instead of living as long as the model.
        try (Arena loading = Arena.ofConfined()) {
            ModelFile file;
            try {
                file = ModelFile.open(modelFile, loading);
            } catch (NoSuchFileException e) {
                throw new NoSuchFileException(modelFile.toString(), null, "no such model file");
            }
            file.verifyChecksums();
            Architecture a = file.architecture();
            String problem = Architectures.problem(a);
            if (problem != null) {
                throw new ModelFormatException(modelFile + ": invalid architecture '" + a.getName() + "': " + problem);
            }
            ResNetGraph graph = ResNetGraph.of(a);
            return build(graph, WeightLoader.tensorsOf(file), modelFile.toString(),
                    labelsOf(file.metadata(), a, modelFile), transformOf(file.metadata(), modelFile), options, loading,
                    started);
        }
    }

    /**
     * A model with random but deterministic weights and non-trivial batch-norm statistics, built in memory for
     * a known architecture name ("resnet50", "resnext50_32x4d", ...; see {@link Architectures#names()}): the
     * same name and seed give the same weights on every run. For benchmarks; no file is read.
     */
    public static ResNet seeded(String arch, long seed, Options options) {
        Architecture a = Architectures.named(arch);
        ResNetGraph graph = ResNetGraph.of(a);
        long started = System.nanoTime();
        try (Arena loading = Arena.ofConfined()) {
            var tensors = SeededWeights.create(graph, seed, loading);
            return build(graph, tensors, "seeded " + arch, imagenetOrNumbered(a.getNumClasses()),
                    ImageNetTransform.IMAGENET, options, loading, started);
        } catch (ModelFormatException e) {
            throw new IllegalStateException("seeded weights do not fit their own architecture: " + e.getMessage(), e);
        }
    }

    /**
     * Folds, packs and dispatches {@code tensors} (which live in {@code loading}, closed by the caller when this
     * returns), then warms the kernels up.
     */
    private static ResNet build(ResNetGraph graph, Map<String, WeightLoader.Tensor> tensors, String origin,
            List<String> labels, ImageNetTransform transform, Options options, Arena loading, long started)
            throws ModelFormatException {
        long read = System.nanoTime();
        // Counts what the kernels pack, for memoryUse(): the model's lifelong share of native memory.
        CountingArena arena = new CountingArena(Arena.ofShared());
        Parallel parallel = null;
        Dispatch dispatch = null;
        try {
            // An accelerator copies the folded weights when the dispatch is resolved, so for a profile that
            // sends layers off the CPU they are folded all at once into the loading arena. Otherwise each layer
            // is folded only while its kernel packs it: the folded copy of the whole network (the size of the
            // weights) never sits next to the packed one.
            WeightLoader.Weights folded = sendsLayersOffCpu(options.profile(), graph)
                    ? WeightLoader.load(graph, tensors, origin, loading) : null;
            Network network = folded != null ? Network.build(graph, folded, arena)
                    : Network.build(graph, tensors, origin, arena);
            long packedBytes = arena.allocatedBytes();
            parallel = new Parallel(options.threads());
            // (with the weights for an accelerator; for the CPU its kernels' own pass, downsamples fused)
            dispatch = Dispatch.resolve(options.profile(), folded != null ? Layers.of(graph, folded)
                    : Layers.of(network), new CpuBackend(network, parallel));
            if (dispatch.notice() != null) {
                System.err.println(dispatch.notice());
            }
            long prepared = System.nanoTime();
            parallel.shortSpin(true);
            var model = new ResNet(graph.architecture(), labels, transform, graph, arena, parallel, network,
                    options.checkInputs(), dispatch, packedBytes);
            try {
                if (warmUpOnce(network.kernelFamilies())) {
                    model.warmUpOnItsShape();
                }
            } finally {
                parallel.shortSpin(false);
            }
            model.loadTimes = new LoadTimes(read - started, prepared - read, System.nanoTime() - prepared);
            return model;
        } catch (RuntimeException | Error | ModelFormatException e) {
            if (dispatch != null) {
                dispatch.close();
            }
            if (parallel != null) {
                parallel.close();
            }
            arena.close();
            throw e;
        }
    }

    private static boolean sendsLayersOffCpu(DispatchProfile profile, ResNetGraph graph) {
        for (var layer : Layers.of(graph, null)) {
            if (profile.choice(layer.name()) != DispatchProfile.Choice.CPU) {
                return true;
            }
        }
        return false;
    }

    private static final Set<Kernels.Family> WARMED_UP = EnumSet.noneOf(Kernels.Family.class);

    /**
     * Gets the kernels of {@code families} compiled by C2 before the first inference, once per process: until
     * then the Vector API runs as ordinary, allocating Java code, orders of magnitude slower, and its lane
     * reductions may round differently from the compiled ones, so a model's first results would differ in the
     * last bits from its later ones. Returns whether it warmed any (the families not warmed before).
     *
     * <p>On one thread: on a 2-core machine the JIT's compiler threads then have a core to themselves while the
     * warm-up's small problems run into its thresholds. The kernel warm-up (both families), alone in
     * a process: 4.3-6.4 s on one thread against 7.9-10.5 on two (Ice Lake Xeon, 2 vCPUs). The multi-threaded
     * paths (the pool, the shares) compile in the second stage, at the model's own size.
     */
    private static boolean warmUpOnce(Set<Kernels.Family> families) {
        EnumSet<Kernels.Family> todo;
        synchronized (WARMED_UP) {
            todo = EnumSet.copyOf(families);
            todo.removeAll(WARMED_UP);
            WARMED_UP.addAll(todo);
        }
        if (todo.isEmpty()) {
            return false;
        }
        try (Parallel one = new Parallel(1)) {
            Kernels.warmUp(one, todo);
        }
        return true;
    }

    // The second stage of the warm-up: whole passes at the model's own image size for at least this long, then
    // until the last three passes agree and the JIT has gone quiet, for at most MODEL_WARMUP_MAX_NANOS.
    private static final long MODEL_WARMUP_MIN_NANOS = 500_000_000L;
    private static final long MODEL_WARMUP_MAX_NANOS = 2_500_000_000L;
    // "Quiet": for the last three passes and at least JIT_QUIET_NANOS, the compiler threads worked at most this
    // share of the time (plus JitActivity's resolution, one clock tick).
    private static final double JIT_QUIET_SHARE = 0.05;
    private static final long JIT_QUIET_NANOS = 250_000_000L;

    /**
     * Runs whole forward passes of this model on one image of its transform's crop size (224 x 224 for the
     * ImageNet models) until their time settles. {@link Kernels#warmUp} compiles every kernel on small
     * problems, but C2 compiles with what it saw there: the loop trip counts, branch outcomes and tiling
     * decisions of a full-size layer differ, and the first full-size passes then hit the compiled code's
     * traps one after the other, each sending a kernel back to slow code until C2 has recompiled it. Measured
     * on ResNet-50 (2 threads): without this stage the first inference took 0.45-0.85 s and the next 7 to
     * 10 took 70-250 ms each before settling at 40 ms. Once per process, like the kernel warm-up.
     *
     * <p>It stops once the last three passes agree within 20% and the JIT has been quiet for them and at least
     * 250 ms ({@link JitActivity}; where it cannot be measured, on the passes alone), or after 2.5 s. Passes
     * agreeing is not enough on a 2-core machine: with the compiler threads recompiling, ResNet-18's passes ran at
     * 50-140 ms for a second or more, three at a time agreeing, and settled at 20-35 ms only after 1.5-2 s, when
     * the compiling had mostly stopped (Ice Lake Xeon, 2 vCPUs; 4 s was the limit before, which a noisy host's
     * passes, never three within 20%, then always ran into).
     */
    private void warmUpOnItsShape() {
        int side = transform.crop();
        long start = System.nanoTime();
        JitActivity jit = JitActivity.probe();
        try (Arena scratch = Arena.ofShared()) {
            MemorySegment in = scratch.allocate(inputFloats(1, side, side) * Float.BYTES, 64);
            for (long i = 0; i < in.byteSize() / Float.BYTES; i++) {
                in.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i * 0.37));
            }
            MemorySegment out = scratch.allocate((long) numClasses() * Float.BYTES, 64);
            long[] last = new long[3];
            // the quiet window so far: since quietFrom (pass quietPass's start), the JIT worked jit - quietJit
            long quietFrom = System.nanoTime(), quietJit = jit.nanos();
            int quietPass = 0;
            for (int pass = 0; ; pass++) {
                long t0 = System.nanoTime();
                contexts.run(null, in, null, out, 1, side, side);
                long now = System.nanoTime();
                last[pass % 3] = now - t0;
                if (now - start >= MODEL_WARMUP_MAX_NANOS) {
                    return;
                }
                boolean quiet = true;
                if (jit.available()) {
                    long worked = jit.nanos();
                    if (worked - quietJit > jit.resolutionNanos() + JIT_QUIET_SHARE * (now - quietFrom)) {
                        quietFrom = now; // a new window from the next pass
                        quietJit = worked;
                        quietPass = pass + 1;
                    }
                    quiet = pass - quietPass >= 2 && now - quietFrom >= JIT_QUIET_NANOS;
                }
                if (quiet && pass >= 2 && now - start >= MODEL_WARMUP_MIN_NANOS) {
                    long lo = Math.min(last[0], Math.min(last[1], last[2]));
                    long hi = Math.max(last[0], Math.max(last[1], last[2]));
                    if (hi <= lo + lo / 5) {
                        return;
                    }
                }
            }
        }
    }

    private static List<String> labelsOf(Metadata m, Architecture a, Path file) throws ModelFormatException {
        if (m.getLabelsCount() == 0) {
            return imagenetOrNumbered(a.getNumClasses());
        }
        if (m.getLabelsCount() != a.getNumClasses()) {
            throw new ModelFormatException(file + ": metadata has " + m.getLabelsCount() + " labels for "
                    + a.getNumClasses() + " classes");
        }
        return List.copyOf(m.getLabelsList());
    }

    private static ImageNetTransform transformOf(Metadata m, Path file) throws ModelFormatException {
        if (!m.hasPreprocessing()) {
            return ImageNetTransform.IMAGENET;
        }
        Preprocessing p = m.getPreprocessing();
        if (p.getMeanCount() != 3 || p.getStdCount() != 3) {
            throw new ModelFormatException(file + ": preprocessing needs 3 means and 3 stds, got "
                    + p.getMeanCount() + " and " + p.getStdCount());
        }
        float[] mean = {p.getMean(0), p.getMean(1), p.getMean(2)};
        float[] std = {p.getStd(0), p.getStd(1), p.getStd(2)};
        try {
            return new ImageNetTransform(p.getResizeShorter(), p.getCrop(), mean, std);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": invalid preprocessing: " + e.getMessage(), e);
        }
    }

    /** torchvision's 1000 ImageNet class names for 1000-class models, else "class 0", "class 1", .... */
    static List<String> imagenetOrNumbered(int classes) {
        if (classes == 1000) {
            return imagenetClasses();
        }
        var l = new ArrayList<String>(classes);
        for (int i = 0; i < classes; i++) {
            l.add("class " + i);
        }
        return List.copyOf(l);
    }

    /** torchvision's ImageNet-1k class names, index = class id. */
    public static List<String> imagenetClasses() {
        var in = ResNet.class.getResourceAsStream(IMAGENET_CLASSES);
        if (in == null) {
            throw new IllegalStateException("resource " + IMAGENET_CLASSES + " is missing from the engine jar");
        }
        try (var r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            List<String> names = r.lines().toList();
            if (names.size() != 1000) {
                throw new IllegalStateException(IMAGENET_CLASSES + " has " + names.size() + " names, expected 1000");
            }
            return names;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The architecture (torchvision name, block type, stage sizes, groups, width, classes). */
    public Architecture architecture() {
        return architecture;
    }

    public int numClasses() {
        return architecture.getNumClasses();
    }

    /** Class names, index = class id: the model file's labels, else ImageNet's for 1000 classes. */
    public List<String> labels() {
        return labels;
    }

    /** The preprocessing the model expects (the model file's, else torchvision's ImageNet recipe). */
    public ImageNetTransform preprocessing() {
        return transform;
    }

    /**
     * Whether the pool's parked workers are woken on a CPU other than the caller's (see
     * {@link dev.skipjack.engine.runtime.Parallel#steersWorkers}).
     */
    public boolean steersWorkers() {
        contexts.checkOpen();
        return parallel.steersWorkers();
    }

    /** Threads one inference runs on. */
    public int threads() {
        contexts.checkOpen();
        return parallel.threads();
    }

    /**
     * Runs the network.
     *
     * @param input float32 NCHW {@code [n][3][h][w]}, exactly {@code n * 3 * h * w} values
     * @return logits {@code [n][numClasses()]}, row-major
     */
    public float[] predict(float[] input, int n, int h, int w) {
        long need = inputFloats(n, h, w);
        if (input.length != need) {
            throw new IllegalArgumentException("input has " + input.length + " floats, [" + n + "][3][" + h + "]["
                    + w + "] needs " + need);
        }
        parallel.wake(); // the pool's parked workers start while the input is checked and copied in
        if (checkInputs) {
            InputCheck.requireFinite(MemorySegment.ofArray(input), n, h, w);
        }
        float[] out = new float[Math.multiplyExact(n, numClasses())];
        contexts.run(input, null, out, null, n, h, w);
        if (checkInputs) {
            InputCheck.requireFiniteLogits(MemorySegment.ofArray(out), n, numClasses());
        }
        return out;
    }

    /**
     * Runs the network on off-heap (or any) memory. An off-heap input that every thread of the model's pool may
     * access (a shared, global or automatic arena's) is read in place by the first layer and must not change until
     * this returns; any other (a confined arena's, an array's, a mapped file's) is copied first.
     *
     * @param input  float32 NCHW {@code [n][3][h][w]} in native byte order, at least {@code n*3*h*w*4} bytes
     * @param output receives {@code [n][numClasses()]} float32, at least {@code n*numClasses()*4} bytes
     */
    public void predict(MemorySegment input, MemorySegment output, int n, int h, int w) {
        long need = inputFloats(n, h, w) * Float.BYTES;
        if (input.byteSize() < need) {
            throw new IllegalArgumentException("input segment has " + input.byteSize() + " bytes, [" + n + "][3]["
                    + h + "][" + w + "] float32 needs " + need);
        }
        long outNeed = (long) n * numClasses() * Float.BYTES;
        if (output.byteSize() < outNeed) {
            throw new IllegalArgumentException("output segment has " + output.byteSize() + " bytes, [" + n + "]["
                    + numClasses() + "] float32 needs " + outNeed);
        }
        if (output.isReadOnly()) {
            throw new IllegalArgumentException("output segment is read-only");
        }
        parallel.wake();
        if (checkInputs) {
            InputCheck.requireFinite(input, n, h, w);
        }
        contexts.run(null, input, null, output, n, h, w);
        if (checkInputs) {
            InputCheck.requireFiniteLogits(output, n, numClasses());
        }
    }

    private static long inputFloats(int n, int h, int w) {
        if (n < 1 || h < 1 || w < 1) {
            throw new IllegalArgumentException("input shape must be positive, got n=" + n + " h=" + h + " w=" + w);
        }
        return 3L * n * h * w;
    }

    /** The {@code k} most probable classes of image {@code image} of a {@link #predict} result. */
    public List<Prediction> topK(float[] logits, int image, int k) {
        return Prediction.topK(logits, image, k, labels);
    }

    /**
     * Decodes, preprocesses ({@link #preprocessing()}) and classifies images in one batch.
     *
     * @return per image, its {@code k} most probable classes
     */
    public List<List<Prediction>> classify(List<Path> images, int k) throws IOException {
        if (images.isEmpty()) {
            return List.of();
        }
        int per = transform.outputLength();
        float[] batch = new float[Math.multiplyExact(images.size(), per)];
        for (int i = 0; i < images.size(); i++) {
            try {
                transform.apply(ImageDecoder.read(images.get(i)), batch, i * per);
            } catch (IllegalArgumentException e) {
                throw new IOException(images.get(i) + ": " + e.getMessage(), e);
            }
        }
        float[] logits = predict(batch, images.size(), transform.crop(), transform.crop());
        var out = new ArrayList<List<Prediction>>(images.size());
        for (int i = 0; i < images.size(); i++) {
            out.add(topK(logits, i, k));
        }
        return out;
    }

    /**
     * Which backend runs each layer and why (the {@code auto} profile's timings included), as printed by
     * {@code ./skipjack ... --profile}: one line per layer.
     */
    public String dispatchPlan() {
        contexts.checkOpen();
        return dispatch.describe();
    }

    /**
     * The line saying the profile asked for an accelerator but every layer runs on the CPU (also printed on
     * stderr when the model loads), or null.
     */
    public String dispatchNotice() {
        return dispatch.notice();
    }

    /**
     * Times every layer inside whole passes on the CPU kernels for an input of {@code [n][3][h][w]} (per layer
     * the median over {@link LayerProfile#PASSES} passes), after a second of passes to warm the JIT: where a
     * forward pass spends its time. Takes a few seconds; for tuning and {@code ./skipjack bench --layers}, not
     * for serving.
     */
    public List<LayerProfile.Entry> profileLayers(int n, int h, int w) {
        contexts.checkOpen();
        inputFloats(n, h, w);
        return LayerProfile.measure(network, parallel, n, h, w);
    }

    /** How long loading this model took, by phase. */
    public LoadTimes loadTimes() {
        return loadTimes;
    }

    /**
     * The native memory this model holds for its weights, and what one inference of {@code [n][3][h][w]} adds
     * (its plan's activation buffers and scratch, for this model's thread count): byte counts of what the
     * engine allocates, not a measurement of the process. Plans the shape (cheap; nothing is allocated).
     */
    public MemoryUse memoryUse(int n, int h, int w) {
        contexts.checkOpen();
        inputFloats(n, h, w);
        long weightBytes = 0;
        for (long[] shape : graph.expectedTensors().values()) {
            long elements = 1;
            for (long d : shape) {
                elements *= d;
            }
            weightBytes += elements * Float.BYTES;
        }
        // The buffers depend on the graph and the shape, not on which backend runs a layer.
        long planBytes = Plan.create(network, n, h, w, parallel.threads()).totalBytes();
        return new MemoryUse(weightBytes, packedBytes, planBytes);
    }

    /** Direct-convolution FLOPs (2 per multiply-add) of one forward pass on {@code [n][3][h][w]}. */
    public long flops(int n, int h, int w) {
        return graph.flops(n, h, w);
    }

    /** Releases the weights, buffers and threads; waits for running inferences. Idempotent. */
    @Override
    public void close() {
        if (contexts.close()) {
            dispatch.close();
            parallel.close();
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "ResNet[" + architecture.getName() + ", " + architecture.getNumClasses() + " classes]";
    }
}
