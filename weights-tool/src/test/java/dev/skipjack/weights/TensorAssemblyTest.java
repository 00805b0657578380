package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.format.ModelFile;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.BlockType;
import dev.skipjack.format.proto.DType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * From pickle to bytes: dtype conversion, strided views, byte order, legacy storage views, zip64 and deflated
 * containers, and where the state_dict is found.
 */
class TensorAssemblyTest {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ResNetSpec TINY = new ResNetSpec(ResNetSpec.CUSTOM, BlockType.BASIC, new int[] {1, 1, 1, 1},
            1, 64, 10);

    @TempDir
    Path tmp;

    private static SyntheticCheckpoint.Storage storage(String cls, int size, ByteOrder order, Number... values) {
        var b = ByteBuffer.allocate(values.length * size).order(order);
        for (Number v : values) {
            switch (cls) {
                case "FloatStorage" -> b.putFloat(v.floatValue());
                case "DoubleStorage" -> b.putDouble(v.doubleValue());
                case "HalfStorage", "BFloat16Storage", "ShortStorage" -> b.putShort(v.shortValue());
                case "LongStorage" -> b.putLong(v.longValue());
                case "IntStorage" -> b.putInt(v.intValue());
                default -> b.put(v.byteValue());
            }
        }
        return new SyntheticCheckpoint.Storage(cls, size, b.array());
    }

    /** Reads a checkpoint and assembles every tensor of its state_dict. */
    private static Map<String, TensorData> assemble(byte[] checkpoint, Arena arena) throws CheckpointException {
        LoadedCheckpoint ck = CheckpointReader.read("t.pt", MemorySegment.ofArray(checkpoint), arena, Limits.defaults());
        var out = new java.util.LinkedHashMap<String, TensorData>();
        for (var e : StateDict.locate(ck).tensors().entrySet()) {
            out.put(e.getKey(), TensorAssembler.assemble(ck, e.getKey(), e.getValue(), arena, 1 << 20));
        }
        return out;
    }

    private static float[] floats(TensorData t) {
        assertEquals(DType.FLOAT32, t.dtype());
        return t.data().toArray(F32);
    }

    private static long[] longs(TensorData t) {
        assertEquals(DType.INT64, t.dtype());
        return t.data().toArray(I64);
    }

    private static SyntheticCheckpoint.View flat(int key, int n) {
        return new SyntheticCheckpoint.View(key, 0, new long[] {n}, new long[] {1});
    }

    @Test
    void dtypesConvertExactly() throws CheckpointException {
        var c = new SyntheticCheckpoint();
        ByteOrder le = ByteOrder.LITTLE_ENDIAN;
        // fp16: 1, smallest subnormal (2^-24), +inf, -65504 (lowest finite), -0
        c.storages.add(storage("HalfStorage", 2, le, 0x3c00, 0x0001, 0x7c00, (short) 0xfbff, (short) 0x8000));
        // bf16: 1, smallest subnormal (2^-133), -inf, largest finite
        c.storages.add(storage("BFloat16Storage", 2, le, 0x3f80, 0x0001, (short) 0xff80, 0x7f7f));
        // fp64: exact, halfway (ties to even: down), halfway (ties to even: up), overflow, underflow
        c.storages.add(storage("DoubleStorage", 8, le, 0.25, 1 + 0x1p-24, 1 + 0x3p-24, 1e300, 1e-50));
        c.storages.add(storage("IntStorage", 4, le, -3, 7));
        c.storages.add(storage("BoolStorage", 1, le, 0, 1));
        c.storages.add(storage("ByteStorage", 1, le, (byte) 255));
        c.storages.add(storage("CharStorage", 1, le, (byte) -1));
        c.tensors.put("h", flat(0, 5));
        c.tensors.put("bf", flat(1, 4));
        c.tensors.put("d", flat(2, 5));
        c.tensors.put("i", flat(3, 2));
        c.tensors.put("b", flat(4, 2));
        c.tensors.put("u8", flat(5, 1));
        c.tensors.put("i8", flat(6, 1));
        try (Arena arena = Arena.ofConfined()) {
            var t = assemble(c.zip(), arena);
            assertArrayEquals(new float[] {1f, 0x1p-24f, Float.POSITIVE_INFINITY, -65504f, -0f}, floats(t.get("h")));
            assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(floats(t.get("h"))[4]));
            assertArrayEquals(new float[] {1f, 0x1p-133f, Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0x7f7f0000)},
                    floats(t.get("bf")));
            assertArrayEquals(new float[] {0.25f, 1f, Float.intBitsToFloat(0x3f800002), Float.POSITIVE_INFINITY, 0f},
                    floats(t.get("d")));
            assertArrayEquals(new long[] {-3, 7}, longs(t.get("i")));
            assertArrayEquals(new long[] {0, 1}, longs(t.get("b")));
            assertArrayEquals(new long[] {255}, longs(t.get("u8")));
            assertArrayEquals(new long[] {-1}, longs(t.get("i8")));
            assertEquals("float16", t.get("h").sourceDType());
            assertEquals("int32", t.get("i").sourceDType());
        }
    }

    @Test
    void stridedViewsAreGathered() throws CheckpointException {
        var c = new SyntheticCheckpoint();
        c.storages.add(SyntheticCheckpoint.floats(40));
        c.tensors.put("transposed", new SyntheticCheckpoint.View(0, 1, new long[] {2, 3}, new long[] {1, 2}));
        c.tensors.put("cube", new SyntheticCheckpoint.View(0, 3, new long[] {2, 2, 3}, new long[] {12, 1, 4}));
        c.tensors.put("broadcast", new SyntheticCheckpoint.View(0, 2, new long[] {3}, new long[] {0}));
        c.tensors.put("scalar", new SyntheticCheckpoint.View(0, 5, new long[0], new long[0]));
        c.tensors.put("empty", new SyntheticCheckpoint.View(0, 40, new long[] {0, 5}, new long[] {5, 1}));
        c.tensors.put("contiguous", new SyntheticCheckpoint.View(0, 8, new long[] {2, 1, 4}, new long[] {4, 99, 1}));
        byte[] zip = c.zip();
        try (Arena arena = Arena.ofConfined()) {
            var t = assemble(zip, arena);
            assertArrayEquals(new float[] {1, 3, 5, 2, 4, 6}, floats(t.get("transposed")));
            var cube = new ArrayList<Float>();
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < 2; j++) {
                    for (int k = 0; k < 3; k++) {
                        cube.add((float) (3 + 12 * i + j + 4 * k));
                    }
                }
            }
            float[] got = floats(t.get("cube"));
            for (int i = 0; i < got.length; i++) {
                assertEquals(cube.get(i), got[i]);
            }
            assertArrayEquals(new float[] {2, 2, 2}, floats(t.get("broadcast")));
            assertArrayEquals(new float[] {5}, floats(t.get("scalar")));
            assertEquals(0, t.get("empty").data().byteSize());
            assertArrayEquals(new float[] {8, 9, 10, 11, 12, 13, 14, 15}, floats(t.get("contiguous")));
            // A contiguous float32 tensor is the checkpoint's own bytes, not a copy.
            long base = MemorySegment.ofArray(zip).address();
            long at = t.get("contiguous").data().address();
            assertTrue(t.get("contiguous").data().heapBase().isPresent() && at >= base && at < base + zip.length);
        }
    }

    @Test
    void broadcastViewCannotAllocateWithoutLimit() throws CheckpointException {
        var c = new SyntheticCheckpoint();
        c.storages.add(SyntheticCheckpoint.floats(1));
        c.tensors.put("huge", new SyntheticCheckpoint.View(0, 0, new long[] {1L << 40}, new long[] {0}));
        String msg = assertThrows(CheckpointException.class, () -> {
            try (Arena arena = Arena.ofConfined()) {
                assemble(c.zip(), arena);
            }
        }).getMessage();
        assertTrue(msg.contains("t.pt: tensor huge of shape [1099511627776] would need 4398046511104 bytes, "
                + "over the limit of 1048576"), msg);
    }

    @Test
    void bigEndianCheckpoints() throws CheckpointException {
        var c = new SyntheticCheckpoint();
        c.storages.add(storage("FloatStorage", 4, ByteOrder.BIG_ENDIAN, 1.5f, -2f));
        c.storages.add(storage("LongStorage", 8, ByteOrder.BIG_ENDIAN, 7L));
        c.storages.add(storage("HalfStorage", 2, ByteOrder.BIG_ENDIAN, 0x3c00));
        c.tensors.put("f", flat(0, 2));
        c.tensors.put("l", flat(1, 1));
        c.tensors.put("h", flat(2, 1));
        var entries = new ArrayList<>(TestZip.torchEntries("archive", c.pickle(null, ""),
                c.storages.stream().map(SyntheticCheckpoint.Storage::data).toList(), false));
        entries.add(TestZip.Entry.stored("archive/byteorder", "big".getBytes(StandardCharsets.US_ASCII)));
        try (Arena arena = Arena.ofConfined()) {
            var t = assemble(TestZip.build(entries, false), arena);
            assertArrayEquals(new float[] {1.5f, -2f}, floats(t.get("f")));
            assertArrayEquals(new long[] {7}, longs(t.get("l")));
            assertArrayEquals(new float[] {1f}, floats(t.get("h")));
        }
        entries.set(entries.size() - 1, TestZip.Entry.stored("archive/byteorder", "middle".getBytes()));
        String msg = assertThrows(CheckpointException.class, () -> {
            try (Arena arena = Arena.ofConfined()) {
                assemble(TestZip.build(entries, false), arena);
            }
        }).getMessage();
        assertTrue(msg.contains("archive/byteorder says 'middle', expected 'little' or 'big'"), msg);
    }

    @Test
    void legacyStorageViews() throws CheckpointException {
        var c = new SyntheticCheckpoint();
        c.storages.add(SyntheticCheckpoint.floats(10));
        // {'v': _rebuild_tensor_v2(<elements 4..6 of storage 0, known as 'view1'>, 1, (2,), (1,), False, {})}
        var w = new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().reduce().mark();
        w.str("v").global("torch._utils", "_rebuild_tensor_v2").mark();
        w.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").integer(10);
        w.str("view1").integer(4).integer(3).op(0x87).tuple().binPersId();
        w.integer(1).intTuple(2).intTuple(1).bool(false).global("collections", "OrderedDict").emptyTuple().reduce();
        w.tuple().reduce().setItems().stop();
        try (Arena arena = Arena.ofConfined()) {
            var t = assemble(c.legacy(w.bytes()), arena);
            assertArrayEquals(new float[] {5, 6}, floats(t.get("v")));
        }
    }

    @Test
    void zip64AndDeflatedCheckpointConverts() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        Path ckpt = Files.write(tmp.resolve("z64.pt"), c.zip(c.pickle(null, ""), true, true));
        Path out = tmp.resolve("z64.skj");
        ConvertAssertions.convert(ckpt, out);
        assertSyntheticValues(out, c);
    }

    @Test
    void wrappedAndPrefixedStateDict() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        Path ckpt = Files.write(tmp.resolve("wrapped.pt"), c.zip(c.pickle("state_dict", "module."), false, false));
        Path out = tmp.resolve("wrapped.skj");
        ConvertAssertions.convert(ckpt, out);
        assertSyntheticValues(out, c);
    }

    @Test
    void legacyConverts() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        Path ckpt = Files.write(tmp.resolve("legacy.pt"), c.legacy(null));
        Path out = tmp.resolve("legacy.skj");
        String printed = ConvertAssertions.convert(ckpt, out);
        assertTrue(printed.contains("from a legacy checkpoint"), printed);
        assertSyntheticValues(out, c);
    }

    /** Each float tensor holds 0, 1, 2, ... (a prefix of the shared storage); num_batches_tracked is 7. */
    private static void assertSyntheticValues(Path model, SyntheticCheckpoint c) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ModelFile m = ModelFile.open(model, arena);
            assertEquals(c.tensors.size(), m.tensors().size());
            for (ModelFile.Tensor t : m.tensors()) {
                if (t.dtype() == DType.INT64) {
                    assertArrayEquals(new long[] {7}, t.data().toArray(I64), t.name());
                } else {
                    float[] v = t.data().toArray(F32);
                    for (int i = 0; i < v.length; i++) {
                        if (v[i] != i) {
                            throw new AssertionError(t.name() + "[" + i + "] = " + v[i]);
                        }
                    }
                }
            }
        }
    }

    @Test
    void stateDictMustBeADictOfTensors() throws IOException {
        byte[] list = new PickleWriter().proto(2).emptyList().stop().bytes();
        Path p = Files.write(tmp.resolve("list.pt"), TestZip.build(TestZip.torchEntries("a", list, List.of(), false),
                false));
        ConvertAssertions.assertFailsCleanly(p, "list.pt: the checkpoint holds a list, expected a dict of tensors");

        byte[] mixed = new PickleWriter().proto(2).emptyDict().str("epoch").integer(3).op('s').stop().bytes();
        p = Files.write(tmp.resolve("mixed.pt"), TestZip.build(TestZip.torchEntries("a", mixed, List.of(), false),
                false));
        ConvertAssertions.assertFailsCleanly(p, "entry 'epoch' of the state_dict in the top-level dict is an int, "
                + "not a tensor");

        var c = SyntheticCheckpoint.of(TINY);
        c.tensors.put("module.fc.bias", c.tensors.get("fc.bias"));
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "dup.pt"),
                "tensor fc.bias appears both with and without the 'module.' prefix");
    }
}
