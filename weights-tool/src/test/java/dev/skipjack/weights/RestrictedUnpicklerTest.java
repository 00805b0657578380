package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.math.BigInteger;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The pickle machine on hand-written opcode streams: values, torch's calls, and every limit. */
class RestrictedUnpicklerTest {
    private static Object load(byte[] pickle, Limits limits, RestrictedUnpickler.PersistentLoader loader)
            throws CheckpointException {
        return new RestrictedUnpickler(MemorySegment.ofArray(pickle), 0, pickle.length, limits, loader).load("test");
    }

    private static Object load(PickleWriter w) throws CheckpointException {
        return load(w.bytes(), Limits.defaults(), null);
    }

    private static String failure(PickleWriter w, Limits limits) {
        return assertThrows(CheckpointException.class, () -> load(w.bytes(), limits, null)).getMessage();
    }

    private static String failure(PickleWriter w) {
        return failure(w, Limits.defaults());
    }

    @Test
    void scalars() throws CheckpointException {
        assertNull(load(new PickleWriter().proto(2).none().stop()));
        assertEquals(true, load(new PickleWriter().proto(2).bool(true).stop()));
        assertEquals(200L, load(new PickleWriter().proto(2).integer(200).stop()));
        assertEquals(40000L, load(new PickleWriter().proto(2).integer(40000).stop()));
        assertEquals(-5L, load(new PickleWriter().proto(2).integer(-5).stop()));
        assertEquals(Long.MIN_VALUE, load(new PickleWriter().proto(2).integer(Long.MIN_VALUE).stop()));
        assertEquals(0L, load(new PickleWriter().proto(2).op(0x8a).raw(0).stop()));
        // LONG1 of 9 bytes: 2^64, which needs a BigInteger
        assertEquals(BigInteger.ONE.shiftLeft(64),
                load(new PickleWriter().proto(2).op(0x8a).raw(9).raw(0, 0, 0, 0, 0, 0, 0, 0, 1).stop()));
        // BINFLOAT is big-endian
        assertEquals(1.5, load(new PickleWriter().proto(2).op('G').raw(0x3f, 0xf8, 0, 0, 0, 0, 0, 0).stop()));
        assertEquals("ünïcode", load(new PickleWriter().proto(2).str("ünïcode").stop()));
        assertArrayEquals(new byte[] {1, 2}, (byte[]) load(new PickleWriter().proto(3).op('C').raw(2, 1, 2).stop()));
    }

    @Test
    void containersAndMemo() throws CheckpointException {
        // ([1, 2], {"a": (3,), "b": <same list>}) with the list memoized and fetched again
        var w = new PickleWriter().proto(2).emptyList().put(0).mark().integer(1).integer(2).appends();
        w.emptyDict().mark().str("a").integer(3).op(0x85).str("b").get(0).setItems().op(0x86).stop();
        PickleTuple t = (PickleTuple) load(w);
        List<?> list = (List<?>) t.get(0);
        assertEquals(List.of(1L, 2L), list);
        Map<?, ?> d = (Map<?, ?>) t.get(1);
        assertEquals(new PickleTuple(List.of(3L)), d.get("a"));
        assertSame(list, d.get("b"));
    }

    @Test
    void protocol4FramesSetsAndMemoize() throws CheckpointException {
        byte[] body = new PickleWriter().op(0x8f).op(0x94).mark().shortStr("x").shortStr("y").op(0x90).op(0x94)
                .mark().integer(1).op(0x91).op(0x86).stop().bytes();
        var w = new PickleWriter().proto(4).op(0x95).le64(body.length).raw(body);
        PickleTuple t = (PickleTuple) load(w);
        assertEquals(Set.of("x", "y"), t.get(0));
        assertEquals(Set.of(1L), t.get(1));
    }

    @Test
    void stateDictWithMetadataBuild() throws CheckpointException {
        var w = new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().reduce().mark();
        w.str("w").global("torch._utils", "_rebuild_tensor_v2").mark();
        w.mark().str("storage").global("torch", "HalfStorage").str("7").str("cuda:0").integer(12).tuple().binPersId();
        w.integer(2).intTuple(2, 5).intTuple(1, 2).bool(false);
        w.global("collections", "OrderedDict").emptyTuple().reduce().tuple().reduce();
        // state_dict()'s _metadata attribute arrives as BUILD with a dict state
        w.setItems().emptyDict().str("_metadata").emptyDict().op('s').op('b').stop();
        Object root = load(w.bytes(), Limits.defaults(), pid -> {
            PickleTuple p = (PickleTuple) pid;
            assertEquals("storage", p.get(0));
            assertSame(StorageType.HALF, p.get(1));
            return new StorageRef((StorageType) p.get(1), (String) p.get(2), (Long) p.get(4), (String) p.get(3), null);
        });
        TensorRef t = (TensorRef) ((Map<?, ?>) root).get("w");
        assertEquals(2, t.storageOffset());
        assertArrayEquals(new long[] {2, 5}, t.shape());
        assertArrayEquals(new long[] {1, 2}, t.stride());
        assertEquals("7", t.storage().key());
        assertEquals(12, t.storage().numel());
    }

    @Test
    void rebuildArgumentsAreTypeChecked() {
        var w = new PickleWriter().proto(2).global("torch._utils", "_rebuild_tensor_v2").mark().str("not a storage")
                .integer(0).intTuple(1).intTuple(1).bool(false).none().tuple().reduce().stop();
        assertTrue(failure(w).contains("torch._utils._rebuild_tensor_v2 argument storage must be a storage, got a str"));
        var w2 = new PickleWriter().proto(2).global("torch._utils", "_rebuild_tensor").mark().integer(1).tuple()
                .reduce().stop();
        assertTrue(failure(w2).contains("expects (storage, storage_offset, size, stride), got 1 arguments"));
    }

    @Test
    void callingAClassOrANonCallableIsRefused() {
        assertTrue(failure(new PickleWriter().proto(2).global("torch", "FloatStorage").emptyTuple().reduce().stop())
                .contains("REDUCE cannot call the class torch.FloatStorage"));
        assertTrue(failure(new PickleWriter().proto(2).str("x").emptyTuple().reduce().stop())
                .contains("REDUCE cannot call a str"));
        assertTrue(failure(new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().op(0x81)
                .stop()).contains("refusing to instantiate a class (opcode 0x81)"));
    }

    @Test
    void persistentIdNeedsALoader() {
        assertTrue(failure(new PickleWriter().proto(2).str("x").binPersId().stop())
                .contains("unexpected persistent id"));
    }

    @Test
    void malformedStreamsAreRefused() {
        assertTrue(failure(new PickleWriter().proto(2).reduce().stop()).contains("stack underflow"));
        assertTrue(failure(new PickleWriter().proto(2).integer(1)).contains("the pickle is truncated"));
        assertTrue(failure(new PickleWriter().proto(2).op('X').le32(1000).raw('a')).contains("the pickle is truncated"));
        assertTrue(failure(new PickleWriter().proto(2).op(0xff)).contains("unknown pickle opcode 0xff"));
        assertTrue(failure(new PickleWriter().proto(2).op('I').raw('1', '\n').stop())
                .contains("unsupported text opcode 'I'"));
        assertTrue(failure(new PickleWriter().proto(6).none().stop()).contains("pickle protocol 6 is not supported"));
        assertTrue(failure(new PickleWriter().proto(2).get(3).stop()).contains("memo entry 3 is read before"));
        assertTrue(failure(new PickleWriter().proto(2).tuple().stop()).contains("no MARK"));
        assertTrue(failure(new PickleWriter().proto(2).none().none().stop()).contains("STOP with 2 values"));
        assertTrue(failure(new PickleWriter().proto(2).integer(1).integer(2).str("x").op('s').stop()).contains("not a dict"));
        assertTrue(failure(new PickleWriter().proto(2).op('c').raw("os".getBytes())).contains("unterminated"));
        assertTrue(failure(new PickleWriter().proto(2).op(0x82).raw(1).stop()).contains("copyreg extension registry"));
        assertTrue(failure(new PickleWriter().proto(5).op(0x97).stop()).contains("out-of-band buffers"));
    }

    @Test
    void selfContainingKeyCannotRecurse() {
        // l = []; l.append(l); {l: 1}  (Python refuses it as unhashable; Java would recurse in hashCode)
        var w = new PickleWriter().proto(2).emptyList().put(0).get(0).op('a').emptyDict().get(0).integer(1).op('s')
                .stop();
        assertTrue(failure(w).contains("unsupported dict key or set item: a list"));
    }

    @Test
    void limitsAreEnforced() {
        var memo = new PickleWriter().proto(2).none();
        for (int i = 0; i < 5; i++) {
            memo.put(i);
        }
        assertTrue(failure(memo.stop(), Limits.defaults().withMaxMemoEntries(4)).contains("memo grows past 4"));

        var many = new PickleWriter().proto(2).emptyList().mark();
        for (int i = 0; i < 100; i++) {
            many.none();
        }
        assertTrue(failure(many.appends().stop(), Limits.defaults().withMaxValues(50))
                .contains("more than 50 values"));

        var deep = new PickleWriter().proto(2);
        for (int i = 0; i < 70_000; i++) {
            deep.mark();
        }
        assertTrue(failure(deep.stop()).contains("more than 65536 nested marks"));

        // A string claiming 100 MB: refused by its length before anything is allocated.
        assertTrue(failure(new PickleWriter().proto(2).op('X').le32(100 << 20).raw('a').stop())
                .contains("a string of 104857600 bytes is over the limit"));
        assertTrue(failure(new PickleWriter().proto(4).op(0x8d).le64(Long.MAX_VALUE).stop())
                .contains("over the limit"));
    }

    @Test
    void sharedTupleKeyCannotExplode() {
        // t0 = (1,), t(i+1) = (ti, ti): 40 levels are 2^40 nodes as a tree; hashing it as a key would never end.
        var w = new PickleWriter().proto(2).emptyDict().integer(1).op(0x85);
        for (int i = 0; i < 40; i++) {
            w.put(0).get(0).op(0x86);
        }
        String msg = failure(w.integer(0).op('s').stop());
        assertTrue(msg.contains("dict key is a tuple too large or too deeply nested"), msg);
    }

    @Test
    void errorsSayWhere() {
        String msg = failure(new PickleWriter().proto(2).none().op(0xff));
        assertTrue(msg.startsWith("test, pickle byte 3: "), msg);
        assertInstanceOf(CheckpointException.class, new CheckpointException(msg));
    }
}
