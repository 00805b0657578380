package dev.skipjack.weights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The zip checkpoint of PyTorch 1.6 and later. One top-level folder {@code <prefix>/} holds
 * <pre>
 *   data.pkl      the object pickle; each storage is a persistent id ('storage', StorageClass, key, location, numel)
 *   data/&lt;key&gt;    each storage's raw elements (stored uncompressed, 64-byte aligned by torch's writer)
 *   byteorder     "little" or "big" (absent before PyTorch 2.1: little)
 *   version       the container's format version
 * </pre>
 */
final class ZipCheckpointReader {
    /** PyTorch's readers accept container versions up to 10 at the time of writing; versions 1 to 3 exist. */
    private static final int MAX_VERSION = 10;

    private ZipCheckpointReader() {}

    static LoadedCheckpoint read(String name, MemorySegment file, Arena arena, Limits limits)
            throws CheckpointException {
        ZipArchive zip = ZipArchive.read(name, file, limits);
        String prefix = findPrefix(name, zip);

        ByteOrder order = ByteOrder.LITTLE_ENDIAN;
        ZipArchive.Entry byteorder = zip.find(prefix + "byteorder");
        if (byteorder != null) {
            String s = text(zip, byteorder, arena);
            order = switch (s) {
                case "little" -> ByteOrder.LITTLE_ENDIAN;
                case "big" -> ByteOrder.BIG_ENDIAN;
                default -> throw new CheckpointException(name + ": " + byteorder.name() + " says '"
                        + Allowlist.printable(s) + "', expected 'little' or 'big'");
            };
        }
        ZipArchive.Entry version = zip.find(prefix + "version");
        if (version != null) {
            String s = text(zip, version, arena);
            int v;
            try {
                v = Integer.parseInt(s);
            } catch (NumberFormatException e) {
                v = -1;
            }
            if (v < 1 || v > MAX_VERSION) {
                throw new CheckpointException(name + ": unsupported checkpoint format version '"
                        + Allowlist.printable(s) + "' in " + version.name() + " (1 to " + MAX_VERSION + " are known)");
            }
        }

        ZipArchive.Entry pkl = zip.find(prefix + "data.pkl");
        if (pkl.size() > limits.maxPickleBytes()) {
            throw new CheckpointException(name + ": " + pkl.name() + " is " + pkl.size() + " bytes, over the limit of "
                    + limits.maxPickleBytes() + " (" + Limits.PICKLE_BYTES + ")");
        }
        MemorySegment pickle = zip.contents(pkl, arena);
        var refs = new LinkedHashMap<String, StorageRef>();
        var unpickler = new RestrictedUnpickler(pickle, 0, pickle.byteSize(), limits, pid -> {
            StorageRef ref = storageRef(pid);
            StorageRef seen = refs.putIfAbsent(ref.key(), ref);
            if (seen != null && (seen.type() != ref.type() || seen.numel() != ref.numel())) {
                throw new CheckpointException("storage " + ref.key() + " is referenced both as " + seen.numel() + " x "
                        + seen.type().dtypeName + " and as " + ref.numel() + " x " + ref.type().dtypeName);
            }
            return ref;
        });
        Object root = unpickler.load(name + ": " + pkl.name());

        Map<String, MemorySegment> storages = new LinkedHashMap<>();
        for (StorageRef ref : refs.values()) {
            String entryName = prefix + "data/" + ref.key();
            ZipArchive.Entry e = zip.find(entryName);
            if (e == null) {
                throw new CheckpointException(name + ": storage " + ref.key() + " is referenced by the pickle but the "
                        + "archive has no entry " + entryName + "; the file is incomplete");
            }
            long es = ref.type().elementSize;
            if (ref.numel() > e.size() / es) {
                throw new CheckpointException(name + ": entry " + entryName + " holds " + e.size() + " bytes, but the "
                        + "pickle declares " + ref.numel() + " x " + ref.type().dtypeName + " (" + ref.numel() + " x "
                        + es + " bytes)");
            }
            storages.put(ref.key(), zip.contents(e, arena).asSlice(0, ref.numel() * es));
        }
        return new LoadedCheckpoint(name, "zip", root, order, storages);
    }

    /** The folder holding data.pkl: torch names it after the file ("archive/" since PyTorch 2.x). */
    private static String findPrefix(String name, ZipArchive zip) throws CheckpointException {
        var found = new ArrayList<String>();
        boolean torchScript = false;
        for (ZipArchive.Entry e : zip.entries()) {
            String n = e.name();
            int slash = n.indexOf('/');
            if (slash > 0 && n.substring(slash + 1).equals("data.pkl")) {
                found.add(n.substring(0, slash + 1));
            }
            if (slash > 0 && (n.substring(slash + 1).equals("constants.pkl") || n.startsWith("code/", slash + 1))) {
                torchScript = true;
            }
        }
        if (torchScript) {
            throw new CheckpointException(name + ": this is a TorchScript archive (torch.jit.save), not a torch.save "
                    + "checkpoint; save model.state_dict() with torch.save and convert that");
        }
        if (found.size() != 1) {
            throw new CheckpointException(name + ": a zip archive but not a torch.save checkpoint ("
                    + (found.isEmpty() ? "no <prefix>/data.pkl entry" : found.size() + " data.pkl entries") + ")");
        }
        return found.getFirst();
    }

    private static String text(ZipArchive zip, ZipArchive.Entry e, Arena arena) throws CheckpointException {
        if (e.size() > 64) {
            return "(" + e.size() + " bytes)";
        }
        return new String(zip.contents(e, arena).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8).strip();
    }

    /** ('storage', StorageClass, key, location, numel) */
    private static StorageRef storageRef(Object pid) throws CheckpointException {
        if (!(pid instanceof PickleTuple t) || t.size() != 5 || !"storage".equals(ascii(t.get(0)))) {
            throw new CheckpointException("persistent id is " + Describe.of(pid)
                    + ", expected ('storage', storage class, key, location, numel)");
        }
        if (!(t.get(1) instanceof StorageType type)) {
            throw new CheckpointException("persistent id names " + Describe.of(t.get(1)) + ", not a storage class");
        }
        String key = ascii(t.get(2));
        String location = ascii(t.get(3));
        if (key == null || location == null || !(t.get(4) instanceof Long numel) || numel < 0) {
            throw new CheckpointException("malformed storage persistent id (key " + Describe.of(t.get(2))
                    + ", location " + Describe.of(t.get(3)) + ", numel " + Describe.of(t.get(4)) + ")");
        }
        return new StorageRef(type, key, numel, location, null);
    }

    /** A str, or bytes decoded as ASCII (Python 2 pickles), else null. */
    static String ascii(Object o) {
        if (o instanceof String s) {
            return s;
        }
        if (o instanceof byte[] b) {
            return new String(b, StandardCharsets.US_ASCII);
        }
        return null;
    }
}
