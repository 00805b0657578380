package dev.skipjack.bench.jmh;

import dev.skipjack.bench.PeakFlops;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The single-thread FP32 FMA peak, by the same register loop as {@code ./skipjack bench}, reported the same
 * way as {@link ConvBenchmark} ({@code gflops}), so a kernel's share of the peak is one division. Use JMH's
 * {@code -t 2} to load two cores at once.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
@State(Scope.Thread)
public class PeakBenchmark {
    private static final int ITERATIONS = 100_000;

    /** JMH reports {@code gflops} per second of benchmark time. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Flops {
        public double gflops;
    }

    @Benchmark
    public float fma(Flops counter) {
        counter.gflops += PeakFlops.flopsPerCall(ITERATIONS) / 1e9;
        return PeakFlops.fmaChains(ITERATIONS);
    }
}
