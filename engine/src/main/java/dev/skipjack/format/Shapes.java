package dev.skipjack.format;

import dev.skipjack.format.proto.DType;
import java.util.Arrays;

/** Small, overflow-checked helpers over row-major shapes. */
public final class Shapes {
    private Shapes() {}

    /** Product of the dimensions; throws on a negative dimension or on overflow past {@code Long.MAX_VALUE}. */
    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Bytes per element of a dtype. */
    public static int elementSize(DType dtype) {
        return switch (dtype) {
            case FLOAT32 -> 4;
            case INT64 -> 8;
            default -> throw new IllegalArgumentException("unsupported dtype " + dtype);
        };
    }

    /** {@code [64, 3, 7, 7]}. */
    public static String format(long[] shape) {
        return Arrays.toString(shape);
    }
}
