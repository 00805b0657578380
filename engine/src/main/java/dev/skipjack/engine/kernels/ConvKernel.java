package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.MemorySegment;

/**
 * A convolution with its batch norm folded in and the block's residual add and ReLU fused into its epilogue:
 * {@link Conv2d} (NCHW in and out) or {@link ConvNhwc} (channels-last out). Which layout a network's values
 * have is the network's decision; a kernel only states what it reads and writes.
 */
public interface ConvKernel {
    /** The geometry this convolution was built for. */
    ConvShape shape();

    /** The algorithm, for profiles: DIRECT, PHASED, WINOGRAD (NCHW), NHWC, NHWC<NCHW (NCHW input). */
    String algorithm();

    /** Bytes of 64-byte aligned scratch {@link #forward} needs for an n x cin x h x w input on that many threads. */
    long scratchBytes(int n, int h, int w, int threads);

    /**
     * {@code out = relu?(conv(in) + bias + residual)}; residual may be null. The layouts are the kernel's (see
     * each class); out must not overlap in, the residual or the scratch.
     */
    void forward(MemorySegment in, MemorySegment out, MemorySegment residual, boolean relu, int n, int h, int w,
                 MemorySegment scratch, Parallel par);
}
