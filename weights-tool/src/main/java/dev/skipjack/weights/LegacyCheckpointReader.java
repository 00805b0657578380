package dev.skipjack.weights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The checkpoint format of PyTorch before 1.6 ({@code _use_new_zipfile_serialization=False}): a stream of
 * pickles followed by raw storage bytes,
 * <pre>
 *   pickle: the magic number 0x1950a86a20f9469cfc6c
 *   pickle: the protocol version 1001
 *   pickle: sys info {"protocol_version", "little_endian", "type_sizes"}
 *   pickle: the object; storages are persistent ids ('storage', StorageClass, root_key, location, numel, view)
 *   pickle: the list of storage keys, in the order their bytes follow
 *   for each key: an 8-byte element count (native byte order), then count * element size raw bytes
 * </pre>
 * where {@code view} is None or {@code (view_key, offset, numel)}, a slice of the root storage in elements.
 */
final class LegacyCheckpointReader {
    private static final BigInteger MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
    private static final long PROTOCOL_VERSION = 1001;

    private LegacyCheckpointReader() {}

    /** The stream starts with PROTO 2 and a 10-byte LONG1: the magic number. */
    static boolean looksLikeLegacy(MemorySegment file) {
        return file.byteSize() >= 4 && file.get(ValueLayout.JAVA_BYTE, 0) == (byte) 0x80
                && file.get(ValueLayout.JAVA_BYTE, 2) == (byte) 0x8a && file.get(ValueLayout.JAVA_BYTE, 3) == 10;
    }

    static LoadedCheckpoint read(String name, MemorySegment file, Limits limits) throws CheckpointException {
        long size = file.byteSize();
        var header = new RestrictedUnpickler(file, 0, size, limits, null);
        Object magic = header.load(name + ": legacy magic number");
        if (!(magic instanceof BigInteger m && m.equals(MAGIC))) {
            throw new CheckpointException(name + ": not a PyTorch checkpoint (a pickle, but without torch's magic "
                    + "number)");
        }
        var p = new RestrictedUnpickler(file, header.position(), size, limits, null);
        Object protocol = p.load(name + ": legacy protocol version");
        if (!(protocol instanceof Long v && v == PROTOCOL_VERSION)) {
            throw new CheckpointException(name + ": legacy protocol version is " + Describe.of(protocol)
                    + (protocol instanceof Long v ? " " + v : "") + ", expected " + PROTOCOL_VERSION);
        }
        var s = new RestrictedUnpickler(file, p.position(), size, limits, null);
        Object sysInfo = s.load(name + ": legacy sys info");
        ByteOrder order = ByteOrder.LITTLE_ENDIAN;
        if (sysInfo instanceof Map<?, ?> info && Boolean.FALSE.equals(info.get("little_endian"))) {
            order = ByteOrder.BIG_ENDIAN;
        }

        var refs = new LinkedHashMap<String, StorageRef>();
        var objects = new RestrictedUnpickler(file, s.position(), size, limits, pid -> {
            StorageRef ref = storageRef(pid);
            StorageRef seen = refs.putIfAbsent(ref.key(), ref);
            if (seen != null && (seen.type() != ref.type() || seen.numel() != ref.numel())) {
                throw new CheckpointException("storage " + ref.key() + " is referenced both as " + seen.numel() + " x "
                        + seen.type().dtypeName + " and as " + ref.numel() + " x " + ref.type().dtypeName);
            }
            return ref;
        });
        Object root = objects.load(name + ": legacy object pickle");

        var k = new RestrictedUnpickler(file, objects.position(), size, limits, null);
        Object keyList = k.load(name + ": legacy storage key list");
        if (!(keyList instanceof List<?> keys)) {
            throw new CheckpointException(name + ": the legacy storage key list is " + Describe.of(keyList)
                    + ", not a list");
        }

        var countLayout = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(order);
        Map<String, MemorySegment> storages = new LinkedHashMap<>();
        long pos = k.position();
        for (Object o : keys) {
            String key = ZipCheckpointReader.ascii(o);
            StorageRef ref = key == null ? null : refs.get(key);
            if (ref == null) {
                throw new CheckpointException(name + ": the legacy storage list names " + (key == null
                        ? Describe.of(o) : "key " + Allowlist.printable(key)) + ", which no tensor refers to");
            }
            if (storages.containsKey(key)) {
                throw new CheckpointException(name + ": storage " + key + " is listed twice");
            }
            if (size - pos < 8) {
                throw truncated(name, key, pos, 8, size);
            }
            long count = file.get(countLayout, pos);
            long es = ref.type().elementSize;
            if (count != ref.numel()) {
                throw new CheckpointException(name + ": storage " + key + " at offset " + pos + " holds " + count
                        + " elements, but the pickle declares " + ref.numel());
            }
            pos += 8;
            if (count > (size - pos) / es) {
                throw truncated(name, key, pos, count * es, size);
            }
            storages.put(key, file.asSlice(pos, count * es));
            pos += count * es;
        }
        for (String key : refs.keySet()) {
            if (!storages.containsKey(key)) {
                throw new CheckpointException(name + ": storage " + key + " is referenced by the pickle but its bytes "
                        + "are not in the file");
            }
        }
        return new LoadedCheckpoint(name, "legacy", root, order, storages);
    }

    private static CheckpointException truncated(String name, String key, long pos, long needed, long size) {
        return new CheckpointException(name + ": the file is truncated: storage " + key + " needs " + needed
                + " bytes at offset " + pos + " but the file ends at " + size);
    }

    /** ('storage', StorageClass, root_key, location, numel, view_metadata) */
    private static StorageRef storageRef(Object pid) throws CheckpointException {
        if (!(pid instanceof PickleTuple t) || t.size() != 6 || !"storage".equals(ZipCheckpointReader.ascii(t.get(0)))) {
            throw new CheckpointException("persistent id is " + Describe.of(pid)
                    + ", expected ('storage', storage class, key, location, numel, view)");
        }
        if (!(t.get(1) instanceof StorageType type)) {
            throw new CheckpointException("persistent id names " + Describe.of(t.get(1)) + ", not a storage class");
        }
        String key = ZipCheckpointReader.ascii(t.get(2));
        String location = ZipCheckpointReader.ascii(t.get(3));
        if (key == null || location == null || !(t.get(4) instanceof Long numel) || numel < 0) {
            throw new CheckpointException("malformed storage persistent id (key " + Describe.of(t.get(2))
                    + ", location " + Describe.of(t.get(3)) + ", numel " + Describe.of(t.get(4)) + ")");
        }
        StorageRef.View view = null;
        if (t.get(5) != null) {
            if (!(t.get(5) instanceof PickleTuple v) || v.size() != 3 || ZipCheckpointReader.ascii(v.get(0)) == null
                    || !(v.get(1) instanceof Long offset) || !(v.get(2) instanceof Long viewNumel)) {
                throw new CheckpointException("storage " + key + ": view metadata is " + Describe.of(t.get(5))
                        + ", expected (view_key, offset, numel)");
            }
            view = new StorageRef.View(ZipCheckpointReader.ascii(v.get(0)), offset, viewNumel);
        }
        return new StorageRef(type, key, numel, location, view);
    }
}
