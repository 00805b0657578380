package dev.skipjack.engine.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Geometry of a 2-D convolution as torchvision builds it: a square kernel, the same stride and zero padding on
 * both axes, no dilation.
 *
 * @param cin    input channels
 * @param cout   output channels
 * @param kernel kernel height and width
 * @param stride stride on both axes
 * @param pad    zero padding on each side of both axes
 * @param groups channel groups; cin and cout must both be divisible by it
 */
public record ConvShape(int cin, int cout, int kernel, int stride, int pad, int groups) {
    public ConvShape {
        if (cin < 1 || cout < 1 || kernel < 1 || stride < 1 || pad < 0 || groups < 1) {
            throw new IllegalArgumentException("invalid convolution " + describe(cin, cout, kernel, stride, pad, groups));
        }
        if (cin % groups != 0 || cout % groups != 0) {
            throw new IllegalArgumentException("groups must divide cin and cout: "
                    + describe(cin, cout, kernel, stride, pad, groups));
        }
    }

    /** Output height for an input of height {@code h}; throws if the kernel does not fit. */
    public int outH(int h) {
        return outSize(h, "height");
    }

    /** Output width for an input of width {@code w}; throws if the kernel does not fit. */
    public int outW(int w) {
        return outSize(w, "width");
    }

    private int outSize(int size, String axis) {
        int span = size + 2 * pad - kernel;
        if (size < 1 || span < 0) {
            throw new IllegalArgumentException("input " + axis + " " + size + " too small for " + this);
        }
        return span / stride + 1;
    }

    /** Input channels per group. */
    public int cinPerGroup() {
        return cin / groups;
    }

    /** Output channels per group. */
    public int coutPerGroup() {
        return cout / groups;
    }

    /** The GEMM depth: {@code cin/groups * kernel * kernel}. */
    public int gemmK() {
        return cin / groups * kernel * kernel;
    }

    /** Floating-point operations of the direct convolution (2 per multiply-add) on an n x cin x h x w input. */
    public long flops(int n, int h, int w) {
        return 2L * n * cout * outH(h) * (long) outW(w) * gemmK();
    }

    /**
     * Checks a kernel's folded parameters against this shape: {@code weight} [cout][cin/groups][k][k] and
     * {@code bias} [cout] float32, each at least that long; the messages name the kernel, the shape and both sizes.
     */
    void requireWeights(String kernelName, MemorySegment weight, MemorySegment bias) {
        long wFloats = (long) cout * gemmK();
        if (weight.byteSize() < wFloats * 4) {
            throw new IllegalArgumentException(kernelName + " " + this + ": weight needs " + wFloats + " floats [" + cout
                    + "][" + cinPerGroup() + "][" + kernel + "][" + kernel + "], got " + weight.byteSize() / 4);
        }
        if (bias.byteSize() < cout * 4L) {
            throw new IllegalArgumentException(kernelName + " " + this + ": bias needs " + cout + " floats, got "
                    + bias.byteSize() / 4);
        }
    }

    private static String describe(int cin, int cout, int kernel, int stride, int pad, int groups) {
        return "ConvShape[cin=" + cin + ", cout=" + cout + ", kernel=" + kernel + ", stride=" + stride
                + ", pad=" + pad + ", groups=" + groups + "]";
    }
}
