package dev.skipjack.bench.jmh;

import dev.skipjack.engine.kernels.Conv2d;
import dev.skipjack.engine.kernels.ConvShape;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Skipjack's {@link Conv2d} on the convolution shapes of torchvision's ResNet-50 at a 224x224 input, batch 1.
 * Besides the time per call, JMH prints a {@code gflops} line: direct-convolution GFLOP/s, to set against the
 * FMA peak that {@link PeakBenchmark} measures in the same way. Run with
 * {@code ./skipjack bench jmh ConvBenchmark} (add {@code -p threads=2}, {@code -p layer=layer3.3x3}, ...).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class ConvBenchmark {
    /** A convolution of ResNet-50 and the input size it sees at 224x224. */
    record Layer(ConvShape shape, int size) {}

    /** The distinct kinds of ResNet-50 convolution: the stem, 1x1 and 3x3 at each stage, the strided ones. */
    static final Map<String, Layer> LAYERS = Map.ofEntries(
            Map.entry("conv1.7x7s2", new Layer(new ConvShape(3, 64, 7, 2, 3, 1), 224)),
            Map.entry("layer1.1x1.256to64", new Layer(new ConvShape(256, 64, 1, 1, 0, 1), 56)),
            Map.entry("layer1.3x3", new Layer(new ConvShape(64, 64, 3, 1, 1, 1), 56)),
            Map.entry("layer1.1x1.64to256", new Layer(new ConvShape(64, 256, 1, 1, 0, 1), 56)),
            Map.entry("layer2.3x3s2", new Layer(new ConvShape(128, 128, 3, 2, 1, 1), 56)),
            Map.entry("layer2.down.1x1s2", new Layer(new ConvShape(256, 512, 1, 2, 0, 1), 56)),
            Map.entry("layer2.3x3", new Layer(new ConvShape(128, 128, 3, 1, 1, 1), 28)),
            Map.entry("layer3.3x3", new Layer(new ConvShape(256, 256, 3, 1, 1, 1), 14)),
            Map.entry("layer3.1x1.1024to256", new Layer(new ConvShape(1024, 256, 1, 1, 0, 1), 14)),
            Map.entry("layer4.3x3", new Layer(new ConvShape(512, 512, 3, 1, 1, 1), 7)),
            Map.entry("layer4.1x1.512to2048", new Layer(new ConvShape(512, 2048, 1, 1, 0, 1), 7)));

    @Param({"conv1.7x7s2", "layer1.1x1.256to64", "layer1.3x3", "layer1.1x1.64to256", "layer2.3x3s2",
            "layer2.down.1x1s2", "layer2.3x3", "layer3.3x3", "layer3.1x1.1024to256", "layer4.3x3",
            "layer4.1x1.512to2048"})
    public String layer;

    /** Threads of the pool; 1 measures the single-core GEMM the 75%-of-peak goal is about. */
    @Param({"1"})
    public int threads;

    @Param({"1"})
    public int batch;

    private Arena arena;
    private Parallel par;
    private Conv2d conv;
    private MemorySegment in;       // [batch][cin][size][size]
    private MemorySegment out;      // [batch][cout][oh][ow]
    private MemorySegment scratch;
    private int size;
    private double gflopPerCall;

    @Setup(Level.Trial)
    public void setUp() {
        Layer l = LAYERS.get(layer);
        if (l == null) {
            throw new IllegalArgumentException("unknown layer '" + layer + "'; known: " + LAYERS.keySet());
        }
        ConvShape s = l.shape();
        size = l.size();
        // Shared: the pool's worker threads read and write these.
        arena = Arena.ofShared();
        par = new Parallel(threads);
        var rnd = new SplittableRandom(1);
        MemorySegment weight = random(arena, (long) s.cout() * s.gemmK(), rnd, 0.05f);
        MemorySegment bias = random(arena, s.cout(), rnd, 0.1f);
        conv = new Conv2d(s, weight, bias, arena);
        in = random(arena, (long) batch * s.cin() * size * size, rnd, 1f);
        out = arena.allocate(4L * batch * s.cout() * s.outH(size) * s.outW(size), 64);
        scratch = arena.allocate(conv.scratchBytes(batch, size, size, threads), 64);
        gflopPerCall = s.flops(batch, size, size) / 1e9;
    }

    private static MemorySegment random(Arena arena, long count, SplittableRandom rnd, float scale) {
        MemorySegment seg = arena.allocate(4 * count, 64);
        for (long i = 0; i < count; i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian() * scale);
        }
        return seg;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        par.close();
        arena.close();
    }

    /** JMH reports {@code gflops} per second of benchmark time: the GFLOP/s of the convolution. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Flops {
        public double gflops;
    }

    @Benchmark
    public void forward(Flops counter) {
        conv.forward(in, out, null, true, batch, size, size, scratch, par);
        counter.gflops += gflopPerCall;
    }
}
