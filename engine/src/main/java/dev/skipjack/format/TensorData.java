package dev.skipjack.format;

import dev.skipjack.format.proto.DType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * One named tensor to be written to a model file: row-major shape and the raw little-endian bytes.
 *
 * @param name       the state_dict name, e.g. {@code layer1.0.conv1.weight}
 * @param dtype      FLOAT32 or INT64
 * @param shape      row-major dimensions
 * @param data       exactly {@code product(shape) * elementSize(dtype)} bytes, little-endian
 * @param sourceDType the dtype the tensor had in the checkpoint (e.g. "float16"), or "" if not known
 */
public record TensorData(String name, DType dtype, long[] shape, MemorySegment data, String sourceDType) {
    public TensorData {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
        Objects.requireNonNull(data, "data");
        sourceDType = sourceDType == null ? "" : sourceDType;
        long expected = Shapes.elementCount(shape) * Shapes.elementSize(dtype);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("tensor " + name + ": shape " + Arrays.toString(shape) + " of "
                    + dtype + " needs " + expected + " bytes, got " + data.byteSize());
        }
    }

    /** A float32 tensor over the given segment (little-endian floats). */
    public static TensorData ofFloat(String name, long[] shape, MemorySegment data) {
        return new TensorData(name, DType.FLOAT32, shape, data, "float32");
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }
}
