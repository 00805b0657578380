package dev.skipjack.bench.kernels;

import dev.skipjack.engine.kernels.ConvShape;
import java.util.List;

/** The distinct convolutions of torchvision's ResNet-50 at 224x224, with how often each occurs. */
public final class ResNet50Convs {
    /** One convolution of the network: its geometry, input size and number of occurrences. */
    public record Conv(String name, ConvShape shape, int h, int w, int count) {
        public long flops(int n) {
            return shape.flops(n, h, w);
        }

        /**
         * The GEMM this convolution amounts to, alone: output pixels x cout x K (K = cin * k * k), run as a
         * channels-last 1x1 convolution over K input channels at the output's size (the input read in place as the
         * GEMM's rows, the weights packed at load, bias and ReLU in the epilogue), without the offset table or
         * Winograd's transforms. Same FLOPs.
         */
        public Conv gemm() {
            ConvShape g = new ConvShape(shape.gemmK(), shape.cout(), 1, 1, 0, 1);
            return new Conv(name, g, shape.outH(h), shape.outW(w), count);
        }
    }

    private ResNet50Convs() {
    }

    private static Conv c(String name, int cin, int cout, int k, int s, int size, int count) {
        return new Conv(name, new ConvShape(cin, cout, k, s, k / 2, 1), size, size, count);
    }

    public static final List<Conv> ALL = List.of(
            c("stem7x7s2", 3, 64, 7, 2, 224, 1),
            c("l1_1x1_64_64", 64, 64, 1, 1, 56, 1),
            c("l1_3x3_64", 64, 64, 3, 1, 56, 3),
            c("l1_1x1_64_256", 64, 256, 1, 1, 56, 4), // three expansions + the downsample (stride 1 here)
            c("l1_1x1_256_64", 256, 64, 1, 1, 56, 2),
            c("l2_1x1_256_128", 256, 128, 1, 1, 56, 1),
            c("l2_3x3s2_128", 128, 128, 3, 2, 56, 1),
            c("l2_ds1x1s2_256_512", 256, 512, 1, 2, 56, 1),
            c("l2_3x3_128", 128, 128, 3, 1, 28, 3),
            c("l2_1x1_128_512", 128, 512, 1, 1, 28, 4),
            c("l2_1x1_512_128", 512, 128, 1, 1, 28, 3),
            c("l3_1x1_512_256", 512, 256, 1, 1, 28, 1),
            c("l3_3x3s2_256", 256, 256, 3, 2, 28, 1),
            c("l3_ds1x1s2_512_1024", 512, 1024, 1, 2, 28, 1),
            c("l3_3x3_256", 256, 256, 3, 1, 14, 5),
            c("l3_1x1_256_1024", 256, 1024, 1, 1, 14, 6),
            c("l3_1x1_1024_256", 1024, 256, 1, 1, 14, 5),
            c("l4_1x1_1024_512", 1024, 512, 1, 1, 14, 1),
            c("l4_3x3s2_512", 512, 512, 3, 2, 14, 1),
            c("l4_ds1x1s2_1024_2048", 1024, 2048, 1, 2, 14, 1),
            c("l4_3x3_512", 512, 512, 3, 1, 7, 2),
            c("l4_1x1_512_2048", 512, 2048, 1, 1, 7, 3),
            c("l4_1x1_2048_512", 2048, 512, 1, 1, 7, 2));

    public static Conv byName(String name) {
        for (Conv c : ALL) {
            if (c.name().equals(name)) {
                return c;
            }
        }
        throw new IllegalArgumentException("no ResNet-50 convolution named " + name);
    }
}
