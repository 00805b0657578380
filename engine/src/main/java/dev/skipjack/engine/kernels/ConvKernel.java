package dev.skipjack.engine.kernels;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.MemorySegment;

/**
 * A convolution with its batch norm folded in and the block's residual add and ReLU fused into its epilogue:
 * {@link Conv2d} (NCHW in and out), {@link StemConv} (NCHW in, channels-last out), {@link ConvNhwc} and
 * {@link WinogradNhwc} (channels-last), or {@link ProjectedConvNhwc} (channels-last, with the block's downsample
 * fused in: its residual is the downsample's input, see {@link #projection}). Which layout a network's values have
 * is the network's decision; a kernel only states what it reads and writes.
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
     * each class); out must not overlap in, the residual or the scratch. A kernel with a {@link #projection}
     * takes the projection's input as the residual and needs its size where the stride is above 1: there it
     * throws IllegalArgumentException (see {@link #forward(MemorySegment, MemorySegment, MemorySegment, int, int,
     * boolean, int, int, int, MemorySegment, Parallel)}).
     */
    void forward(MemorySegment in, MemorySegment out, MemorySegment residual, boolean relu, int n, int h, int w,
                 MemorySegment scratch, Parallel par);

    /**
     * The convolution the residual goes through inside this kernel before it is added (a block's downsample fused
     * into its last convolution: {@link ProjectedConvNhwc}), whose input the residual then is; null (the default)
     * where the residual is added as it is, shaped as the output.
     */
    default ConvShape projection() {
        return null;
    }

    /**
     * The largest memory {@link #forward} reads that no layer writes, its packed weights, for the pool's threads to
     * read while they wait at the end of the layer before ({@link Parallel#readWhileIdle}); null (the default) where
     * there is none worth reading ahead.
     */
    default MemorySegment weights() {
        return null;
    }

    /**
     * {@link #forward(MemorySegment, MemorySegment, MemorySegment, boolean, int, int, int, MemorySegment, Parallel)}
     * given the residual's height and width, {@code rh x rw} (ignored where residual is null): the output's without
     * a {@link #projection} (checked here), else the projection's input's, which the output's size does not
     * determine at a stride above 1 (a 1x1/2 makes 28x28 of 55x55 and of 56x56 alike).
     */
    default void forward(MemorySegment in, MemorySegment out, MemorySegment residual, int rh, int rw, boolean relu,
                         int n, int h, int w, MemorySegment scratch, Parallel par) {
        ConvShape s = shape();
        if (residual != null && (rh != s.outH(h) || rw != s.outW(w))) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " " + s + ": a residual of " + rh + "x"
                    + rw + " for an output of " + s.outH(h) + "x" + s.outW(w));
        }
        forward(in, out, residual, relu, n, h, w, scratch, par);
    }
}
