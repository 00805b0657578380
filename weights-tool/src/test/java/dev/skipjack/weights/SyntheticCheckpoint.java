package dev.skipjack.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds torch.save-style checkpoints in the test, without PyTorch: an OrderedDict of tensors, each a
 * {@code _rebuild_tensor_v2} view of one of a few storages, pickled the way torch's pickler does, in the zip
 * layout. Tests remove, reshape or add tensors before writing it out.
 */
final class SyntheticCheckpoint {
    /** A storage: its torch class name ("FloatStorage") and raw little-endian bytes. */
    record Storage(String className, int elementSize, byte[] data) {
        long numel() {
            return data.length / elementSize;
        }
    }

    /** A tensor: a view of storage {@code key}. */
    record View(int key, long offset, long[] shape, long[] stride) {}

    final List<Storage> storages = new ArrayList<>();
    final Map<String, View> tensors = new LinkedHashMap<>();

    /**
     * Every tensor {@code spec} expects, contiguous at offset 0 of one shared float storage holding 0, 1, 2, ...
     * (num_batches_tracked views a one-element long storage holding 7).
     */
    static SyntheticCheckpoint of(ResNetSpec spec) {
        var c = new SyntheticCheckpoint();
        long max = 0;
        for (ResNetSpec.Expected e : spec.expectedTensors().values()) {
            max = Math.max(max, count(e.shape()));
        }
        c.storages.add(floats(max));
        c.storages.add(new Storage("LongStorage", 8,
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(7).array()));
        spec.expectedTensors().forEach((name, e) ->
                c.tensors.put(name, new View(e.integer() ? 1 : 0, 0, e.shape(), contiguous(e.shape()))));
        return c;
    }

    /** A float storage holding 0, 1, ..., n-1. */
    static Storage floats(long n) {
        var b = ByteBuffer.allocate(Math.toIntExact(n * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            b.putFloat(i);
        }
        return new Storage("FloatStorage", 4, b.array());
    }

    static long count(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    static long[] contiguous(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[d] = acc;
            acc *= shape[d];
        }
        return s;
    }

    /** The state_dict pickle, optionally under {@code wrapperKey} of an outer dict, names prefixed. */
    byte[] pickle(String wrapperKey, String namePrefix) {
        var w = new PickleWriter().proto(2);
        if (wrapperKey != null) {
            w.emptyDict().mark().str(wrapperKey);
        }
        writeStateDict(w, namePrefix, false);
        if (wrapperKey != null) {
            w.str("epoch").integer(7).setItems();
        }
        return w.stop().bytes();
    }

    /** Legacy persistent ids have a sixth item, the view metadata (None here). */
    void writeStateDict(PickleWriter w, String namePrefix, boolean legacy) {
        w.global("collections", "OrderedDict").emptyTuple().reduce().mark();
        tensors.forEach((name, v) -> {
            Storage s = storages.get(v.key());
            w.str(namePrefix + name);
            w.global("torch._utils", "_rebuild_tensor_v2").mark();
            w.mark().str("storage").global("torch", s.className()).str(Integer.toString(v.key())).str("cpu")
                    .integer(s.numel());
            if (legacy) {
                w.none();
            }
            w.tuple().binPersId();
            w.integer(v.offset()).intTuple(v.shape()).intTuple(v.stride()).bool(false);
            w.global("collections", "OrderedDict").emptyTuple().reduce();
            w.tuple().reduce();
        });
        w.setItems();
    }

    byte[] zip() {
        return zip(pickle(null, ""), false, false);
    }

    byte[] zip(byte[] pickle, boolean deflate, boolean zip64) {
        var data = new ArrayList<byte[]>();
        for (Storage s : storages) {
            data.add(s.data());
        }
        return TestZip.build(TestZip.torchEntries("archive", pickle, data, deflate), zip64);
    }

    /**
     * The legacy (pre-1.6) stream: magic, protocol, sys info, {@code objectPickle} (or the state_dict's), the
     * storage keys, then each storage as an 8-byte element count and its bytes.
     */
    byte[] legacy(byte[] objectPickle) {
        var out = new java.io.ByteArrayOutputStream();
        // 0x1950a86a20f9469cfc6c as a 10-byte little-endian LONG1
        out.writeBytes(new PickleWriter().proto(2).op(0x8a).raw(10)
                .raw(0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).stop().bytes());
        out.writeBytes(new PickleWriter().proto(2).integer(1001).stop().bytes());
        out.writeBytes(new PickleWriter().proto(2).emptyDict().mark().str("protocol_version").integer(1001)
                .str("little_endian").bool(true).str("type_sizes").emptyDict().setItems().stop().bytes());
        if (objectPickle == null) {
            var w = new PickleWriter().proto(2);
            writeStateDict(w, "", true);
            objectPickle = w.stop().bytes();
        }
        out.writeBytes(objectPickle);
        var keys = new PickleWriter().proto(2).emptyList().mark();
        for (int i = 0; i < storages.size(); i++) {
            keys.str(Integer.toString(i));
        }
        out.writeBytes(keys.appends().stop().bytes());
        for (Storage s : storages) {
            out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(s.numel()).array());
            out.writeBytes(s.data());
        }
        return out.toByteArray();
    }

    Path write(Path dir, String fileName) throws IOException {
        return Files.write(dir.resolve(fileName), zip());
    }
}
