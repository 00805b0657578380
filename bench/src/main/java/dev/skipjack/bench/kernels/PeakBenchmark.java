package dev.skipjack.bench.kernels;

import dev.skipjack.bench.PeakFlops;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The single-core FP32 peak as the JIT reaches it ({@link PeakFlops#fmaChains}, the loop {@code ./skipjack bench}
 * measures its peak with: independent FMA chains in registers), in {@link ConvBenchmark}'s {@code gflop} counter,
 * at the same vector species.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class PeakBenchmark {
    private static final int ITERATIONS = 100_000;

    @Benchmark
    public float fmaPeak(ConvBenchmark.Rate rate) {
        rate.gflop += PeakFlops.flopsPerCall(ITERATIONS) / 1e9;
        return PeakFlops.fmaChains(ITERATIONS);
    }
}
