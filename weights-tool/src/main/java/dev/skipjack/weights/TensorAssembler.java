package dev.skipjack.weights;

import dev.skipjack.format.Shapes;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Turns a {@link TensorRef} into the contiguous, row-major, little-endian bytes a model file stores: float32
 * for every floating-point dtype (float16, bfloat16 and float64 converted exactly as PyTorch's
 * {@code .float()} does: fp16 and bf16 widen exactly, fp64 rounds to nearest even), int64 for integer dtypes.
 *
 * <p>The view (storage offset, shape, stride) is checked against the storage before any element is read. A
 * float32 or int64 little-endian tensor that is already contiguous is returned as a slice of the storage
 * (normally of the mapped file), so the weights of a typical checkpoint are never copied onto the heap; every
 * other tensor is gathered into a new segment of the caller's arena.
 */
final class TensorAssembler {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TensorAssembler() {}

    /** The model-file dtype a storage type converts to. */
    static DType targetType(StorageType t) {
        return t.floatingPoint ? DType.FLOAT32 : DType.INT64;
    }

    /**
     * The tensor's bytes: a slice of its storage where they are already right, else gathered into a new
     * segment of {@code arena} of at most {@code maxBytes}.
     */
    static TensorData assemble(LoadedCheckpoint ck, String name, TensorRef t, Arena arena, long maxBytes)
            throws CheckpointException {
        String where = ck.fileName() + ": tensor " + Allowlist.printable(name);
        long[] shape = t.shape();
        long[] stride = t.stride();
        StorageType type = t.storage().type();
        long numel;
        try {
            numel = Shapes.elementCount(shape);
            Math.multiplyExact(numel, 8L);
        } catch (ArithmeticException | IllegalArgumentException e) {
            throw new CheckpointException(where + " has an invalid shape " + Arrays.toString(shape));
        }
        for (long s : stride) {
            if (s < 0) {
                throw new CheckpointException(where + " has a negative stride " + Arrays.toString(stride));
            }
        }
        if (t.storageOffset() < 0) {
            throw new CheckpointException(where + " has a negative storage offset " + t.storageOffset());
        }
        MemorySegment storage = ck.bytes(t.storage());
        long storageNumel = storage.byteSize() / type.elementSize;
        if (numel > 0) {
            long last = t.storageOffset();
            try {
                for (int d = 0; d < shape.length; d++) {
                    last = Math.addExact(last, Math.multiplyExact(shape[d] - 1, stride[d]));
                }
            } catch (ArithmeticException e) {
                last = Long.MAX_VALUE;
            }
            if (last >= storageNumel) {
                throw new CheckpointException(where + ": the view (offset " + t.storageOffset() + ", shape "
                        + Arrays.toString(shape) + ", stride " + Arrays.toString(stride) + ") reaches element "
                        + last + " of a storage of only " + storageNumel + " " + type.dtypeName + " elements");
            }
        }

        DType target = targetType(type);
        boolean sameBytes = (type == StorageType.FLOAT || type == StorageType.LONG)
                && ck.byteOrder() == ByteOrder.LITTLE_ENDIAN;
        if (sameBytes && isContiguous(shape, stride)) {
            MemorySegment slice = storage.asSlice(t.storageOffset() * type.elementSize, numel * type.elementSize);
            return new TensorData(name, target, shape, slice, type.dtypeName);
        }
        long outBytes = numel * (target == DType.FLOAT32 ? 4 : 8);
        if (outBytes > maxBytes) {
            // A stride-0 view of one element can describe terabytes: gather only what a real tensor needs.
            throw new CheckpointException(where + " of shape " + Arrays.toString(shape) + " would need " + outBytes
                    + " bytes, over the limit of " + maxBytes + " (" + Limits.TENSOR_BYTES + ")");
        }
        MemorySegment out = arena.allocate(Math.max(outBytes, 1), 64).asSlice(0, outBytes);
        gather(storage, ck.byteOrder(), type, t.storageOffset(), shape, stride, out);
        return new TensorData(name, target, shape, out, type.dtypeName);
    }

    /** Row-major contiguous: dimensions of size 1 may carry any stride, as in PyTorch. */
    static boolean isContiguous(long[] shape, long[] stride) {
        long expected = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] != 1 && stride[d] != expected) {
                return false;
            }
            expected *= shape[d];
        }
        return true;
    }

    /** Copies the view into {@code out}, row by row of the innermost dimension. */
    private static void gather(MemorySegment src, ByteOrder order, StorageType type, long offset, long[] shape,
            long[] stride, MemorySegment out) {
        int nd = shape.length;
        long numel = out.byteSize() / (type.floatingPoint ? 4 : 8);
        if (numel == 0) {
            return;
        }
        long rowLength = nd == 0 ? 1 : shape[nd - 1];
        long rowStride = nd == 0 ? 0 : stride[nd - 1];
        long[] index = new long[Math.max(nd - 1, 0)];
        long rowStart = offset;
        for (long written = 0; written < numel; written += rowLength) {
            copyRow(src, order, type, rowStart, rowStride, rowLength, out, written);
            // Advance the outer index like an odometer, keeping rowStart = offset + sum(index[d] * stride[d]).
            for (int d = nd - 2; d >= 0; d--) {
                if (++index[d] < shape[d]) {
                    rowStart += stride[d];
                    break;
                }
                rowStart -= (shape[d] - 1) * stride[d];
                index[d] = 0;
            }
        }
    }

    /** {@code n} elements from {@code src} (element offset {@code from}, step {@code step}) to {@code out[at..]}. */
    private static void copyRow(MemorySegment src, ByteOrder order, StorageType type, long from, long step, long n,
            MemorySegment out, long at) {
        switch (type) {
            case FLOAT -> {
                var l = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(order);
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(F32_LE, at + i, src.getAtIndex(l, from + i * step));
                }
            }
            case DOUBLE -> {
                var l = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(order);
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(F32_LE, at + i, (float) src.getAtIndex(l, from + i * step));
                }
            }
            case HALF -> {
                var l = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(order);
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(F32_LE, at + i, Float.float16ToFloat(src.getAtIndex(l, from + i * step)));
                }
            }
            case BFLOAT16 -> {
                // bfloat16 is the upper half of a float32: widening is a shift, exact for every value.
                var l = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(order);
                for (long i = 0; i < n; i++) {
                    int bits = Short.toUnsignedInt(src.getAtIndex(l, from + i * step)) << 16;
                    out.setAtIndex(F32_LE, at + i, Float.intBitsToFloat(bits));
                }
            }
            case LONG -> {
                var l = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(order);
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(I64_LE, at + i, src.getAtIndex(l, from + i * step));
                }
            }
            case INT -> {
                var l = ValueLayout.JAVA_INT_UNALIGNED.withOrder(order);
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(I64_LE, at + i, src.getAtIndex(l, from + i * step));
                }
            }
            case SHORT -> {
                var l = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(order);
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(I64_LE, at + i, src.getAtIndex(l, from + i * step));
                }
            }
            case CHAR -> {
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(I64_LE, at + i, src.get(ValueLayout.JAVA_BYTE, from + i * step));
                }
            }
            case BYTE -> {
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(I64_LE, at + i, Byte.toUnsignedLong(src.get(ValueLayout.JAVA_BYTE, from + i * step)));
                }
            }
            case BOOL -> {
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(I64_LE, at + i, src.get(ValueLayout.JAVA_BYTE, from + i * step) != 0 ? 1 : 0);
                }
            }
        }
    }
}
