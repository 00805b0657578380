package dev.skipjack.weights;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * A checkpoint after its container has been read: the unpickled object tree and the bytes of every storage it
 * references (slices of the mapped file where the container stores them uncompressed).
 *
 * @param fileName  for messages
 * @param format    "zip" or "legacy"
 * @param root      the unpickled top-level object
 * @param byteOrder of the storages' elements
 * @param storages  storage bytes by (root) key, each exactly {@code numel * elementSize} long
 */
record LoadedCheckpoint(String fileName, String format, Object root, ByteOrder byteOrder,
        Map<String, MemorySegment> storages) {

    /** The bytes a storage reference stands for: the storage, or for a legacy view its slice of the root. */
    MemorySegment bytes(StorageRef ref) throws CheckpointException {
        MemorySegment root = storages.get(ref.key());
        if (root == null) {
            throw new CheckpointException(fileName + ": storage " + ref.key() + " is referenced but not in the file");
        }
        StorageRef.View v = ref.view();
        if (v == null) {
            return root;
        }
        long es = ref.type().elementSize;
        long rootNumel = root.byteSize() / es;
        if (v.offset() < 0 || v.numel() < 0 || v.offset() > rootNumel || v.numel() > rootNumel - v.offset()) {
            throw new CheckpointException(fileName + ": storage view " + v.key() + " (elements " + v.offset() + " + "
                    + v.numel() + ") lies outside its root storage " + ref.key() + " of " + rootNumel + " elements");
        }
        return root.asSlice(v.offset() * es, v.numel() * es);
    }
}
