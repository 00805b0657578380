package dev.skipjack.weights;

import java.util.Arrays;

/**
 * A tensor as the pickle describes it, before any byte is read: a strided view of a storage. Element
 * {@code [i0, i1, ...]} is storage element {@code storageOffset + i0 * stride[0] + i1 * stride[1] + ...}.
 */
record TensorRef(StorageRef storage, long storageOffset, long[] shape, long[] stride) {
    @Override
    public String toString() {
        return "a " + storage.type().dtypeName + " tensor of shape " + Arrays.toString(shape);
    }
}
