package dev.skipjack.bench.kernels;

import dev.skipjack.engine.kernels.Kernels;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
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
 * Every distinct convolution of ResNet-50 at 224x224, batch 1, fused bias + ReLU, as the engine runs it
 * ({@code -p form=conv}, the default) or its GEMM alone ({@code -p form=gemm}). The
 * {@code gflop} counter is the rate in GFLOP/s (direct-convolution FLOPs); compare it with
 * {@link PeakBenchmark}'s in the same run to get a percentage of the machine's FMA peak.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp CLASSPATH org.openjdk.jmh.Main 'kernels.(Conv|Peak)Benchmark' \
 *      -p threads=1 [-jvmArgsAppend -Dskipjack.vector.species=256]
 * </pre>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@State(Scope.Thread)
public class ConvBenchmark {
    @Param({"stem7x7s2", "l1_1x1_64_64", "l1_3x3_64", "l1_1x1_64_256", "l1_1x1_256_64", "l2_1x1_256_128",
            "l2_3x3s2_128", "l2_ds1x1s2_256_512", "l2_3x3_128", "l2_1x1_128_512", "l2_1x1_512_128",
            "l3_1x1_512_256", "l3_3x3s2_256", "l3_ds1x1s2_512_1024", "l3_3x3_256", "l3_1x1_256_1024",
            "l3_1x1_1024_256", "l4_1x1_1024_512", "l4_3x3s2_512", "l4_ds1x1s2_1024_2048", "l4_3x3_512",
            "l4_1x1_512_2048", "l4_1x1_2048_512"})
    public String shape;

    @Param({"1"})
    public int threads;

    /**
     * {@code conv}: the convolution as the engine runs it; {@code gemm}: its GEMM alone
     * ({@link ResNet50Convs.Conv#gemm}).
     */
    @Param({"conv"})
    public String form;

    private Arena arena;
    private Parallel par;
    private ConvProbe.Setup setup;
    private double gflopPerCall;

    /** Per-iteration counters; JMH reports {@code gflop} divided by time, i.e. GFLOP/s. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Rate {
        public double gflop;

        @Setup(Level.Iteration)
        public void reset() {
            gflop = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        par = new Parallel(threads);
        Kernels.warmUp(par);
        ResNet50Convs.Conv c = ResNet50Convs.byName(shape);
        setup = new ConvProbe.Setup(form.equals("gemm") ? c.gemm() : c, threads, arena);
        gflopPerCall = setup.c.flops(1) / 1e9;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        par.close();
        arena.close();
    }

    @Benchmark
    public void conv(Rate rate) {
        setup.run(par);
        rate.gflop += gflopPerCall;
    }
}
