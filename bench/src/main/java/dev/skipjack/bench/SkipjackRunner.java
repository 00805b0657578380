package dev.skipjack.bench;

import dev.skipjack.engine.ResNet;
import dev.skipjack.engine.backend.DispatchProfile;
import dev.skipjack.engine.model.LayerProfile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;

/** Skipjack's engine through its public API, writing logits into memory planned once per bind. */
final class SkipjackRunner implements Runner {
    private final ResNet model;
    private Arena arena;
    private MemorySegment input;
    private MemorySegment output;  // [n][numClasses]
    private int n;
    private int h;
    private int w;

    private SkipjackRunner(ResNet model) {
        this.model = model;
    }

    /** A model with seeded random weights, built in memory. */
    static SkipjackRunner seeded(String arch, long seed, int threads, DispatchProfile profile) {
        return new SkipjackRunner(ResNet.seeded(arch, seed, options(threads, profile)));
    }

    /** A model loaded from a Skipjack model file. */
    static SkipjackRunner load(Path file, int threads, DispatchProfile profile) throws Exception {
        return new SkipjackRunner(ResNet.load(file, options(threads, profile)));
    }

    private static ResNet.Options options(int threads, DispatchProfile profile) {
        return new ResNet.Options(threads).withProfile(profile == null ? DispatchProfile.cpu() : profile);
    }

    /** Which layer runs where (see {@link ResNet#dispatchPlan()}). */
    String dispatchPlan() {
        return model.dispatchPlan();
    }

    /** Whether parked workers are woken away from the caller's CPU (see {@link ResNet#steersWorkers()}). */
    boolean steersWorkers() {
        return model.steersWorkers();
    }

    /** The architecture's name, e.g. "resnet50". */
    String arch() {
        return model.architecture().getName();
    }

    /** Direct-convolution FLOPs of one forward at this shape. */
    long flops(int n, int h, int w) {
        return model.flops(n, h, w);
    }

    /** Each layer timed inside whole passes (see {@link ResNet#profileLayers}). */
    List<LayerProfile.Entry> profileLayers(int n, int h, int w) {
        return model.profileLayers(n, h, w);
    }

    @Override
    public String name() {
        return "skipjack";
    }

    @Override
    public int numClasses() {
        return model.numClasses();
    }

    @Override
    public void bind(MemorySegment in, int n, int h, int w) {
        if (arena != null) {
            arena.close();
        }
        // Shared: the engine's worker threads write the logits.
        arena = Arena.ofShared();
        output = arena.allocate(4L * n * model.numClasses(), 64);
        this.input = in;
        this.n = n;
        this.h = h;
        this.w = w;
    }

    @Override
    public void run() {
        if (input == null) {
            throw new IllegalStateException("SkipjackRunner.run before bind");
        }
        model.predict(input, output, n, h, w);
    }

    @Override
    public float[] logits() {
        return output.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Override
    public void close() {
        model.close();
        if (arena != null) {
            arena.close();
            arena = null;
        }
    }
}
