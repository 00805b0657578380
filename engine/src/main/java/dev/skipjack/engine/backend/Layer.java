package dev.skipjack.engine.backend;

import dev.skipjack.engine.kernels.ConvShape;
import java.lang.foreign.MemorySegment;

/**
 * One step of a model's forward pass as a backend sees it: what it computes, which values (numbered
 * activations, value 0 being the input) it reads and writes, and its name in torchvision's module naming
 * ({@code conv1}, {@code maxpool}, {@code layer2.0.conv1}, {@code layer2.0.downsample.0}, {@code avgpool},
 * {@code fc}), the name a dispatch profile matches.
 *
 * <p>Every activation a backend receives or hands on is float32 NCHW {@code [n][c][h][w]}; after the average
 * pool it is {@code [n][c]}. (Where every layer runs on the CPU, its kernels keep the later stages channels-last
 * internally: see {@code Network}.)
 * Weight segments are only valid while a backend is being opened: a backend copies what it keeps.
 */
public sealed interface Layer permits Layer.Conv, Layer.MaxPool, Layer.AvgPool, Layer.Fc {
    /** Position in the forward pass (0 = first step). */
    int index();

    String name();

    int input();

    int output();

    /** Whether this layer reads value {@code v}. */
    default boolean reads(int v) {
        return input() == v;
    }

    /**
     * {@code output = relu?(conv(input) + bias + residual?)}: a convolution with its batch norm folded in, and
     * the block's residual add and ReLU fused into its epilogue.
     *
     * @param residual value added before the ReLU, or -1
     * @param weight   [cout][cin/groups][k][k] float32 (OIHW)
     * @param bias     [cout] float32
     */
    record Conv(int index, String name, int input, int output, int residual, boolean relu, ConvShape shape,
                MemorySegment weight, MemorySegment bias) implements Layer {
        @Override
        public boolean reads(int v) {
            return input == v || residual == v;
        }
    }

    /** Max pooling with a square window, padding with -infinity (torchvision's MaxPool2d). */
    record MaxPool(int index, String name, int input, int output, int kernel, int stride, int pad) implements Layer {
        /** Output size along one spatial axis. */
        public int outSize(int size) {
            return (size + 2 * pad - kernel) / stride + 1;
        }
    }

    /** Adaptive average pooling to 1x1 and flatten: {@code [n][c][h][w] -> [n][c]}. */
    record AvgPool(int index, String name, int input, int output) implements Layer {}

    /**
     * The fully connected layer: {@code [n][in] -> [n][out]}, {@code y = x W^T + b}.
     *
     * @param weight [out][in] float32
     * @param bias   [out] float32
     */
    record Fc(int index, String name, int input, int output, int inFeatures, int outFeatures, MemorySegment weight,
              MemorySegment bias) implements Layer {}
}
