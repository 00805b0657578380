package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every checkpoint limit fires with a message naming the value, the limit and the system property that
 * overrides it, and each can be overridden both ways (system property, {@code with...}).
 */
class LimitsTest {
    private static String refusal(byte[] checkpoint, Limits limits) {
        return assertThrows(CheckpointException.class, () -> {
            try (Arena arena = Arena.ofConfined()) {
                LoadedCheckpoint ck = CheckpointReader.read("l.pt", MemorySegment.ofArray(checkpoint), arena, limits);
                StateDict sd = StateDict.locate(ck, limits);
                for (var e : sd.tensors().entrySet()) {
                    TensorAssembler.assemble(ck, e.getKey(), e.getValue(), arena, limits.maxTensorBytes());
                }
            }
        }).getMessage();
    }

    private static String pickleRefusal(PickleWriter w, Limits limits) {
        byte[] b = w.stop().bytes();
        return assertThrows(CheckpointException.class,
                () -> new RestrictedUnpickler(MemorySegment.ofArray(b), 0, b.length, limits, null).load("p"))
                .getMessage();
    }

    private static void assertMentions(String message, String... fragments) {
        for (String f : fragments) {
            assertTrue(message.contains(f), "expected '" + f + "' in: " + message);
        }
    }

    @Test
    void zipEntriesInflatedBytesAndRatio() {
        byte[] three = TestZip.build(List.of(TestZip.Entry.stored("1", new byte[3]), TestZip.Entry.stored("2",
                new byte[3]), TestZip.Entry.stored("3", new byte[3])), false);
        assertMentions(refusal(three, Limits.defaults().withMaxZipEntries(2)), "3 entries, over the limit of 2",
                Limits.ZIP_ENTRIES);
        var c = FuzzSeeds.small();
        byte[] deflated = c.zip(c.pickle(null, ""), true, false);
        assertMentions(refusal(deflated, Limits.defaults().withMaxInflatedBytes(100)), "over the limit of 100",
                Limits.INFLATED_BYTES);
        var zeros = FuzzSeeds.small();
        zeros.storages.set(0, new SyntheticCheckpoint.Storage("FloatStorage", 4, new byte[1 << 20]));
        byte[] bomb = zeros.zip(zeros.pickle(null, ""), true, false);
        assertMentions(refusal(bomb, Limits.defaults().withMaxDeflateRatio(50)),
                "compression ratio over 50:1", Limits.DEFLATE_RATIO, "zip bomb");
    }

    @Test
    void pickleBytesTensorsAndTensorBytes() {
        byte[] zip = FuzzSeeds.small().zip();
        assertMentions(refusal(zip, Limits.defaults().withMaxPickleBytes(100)), "data.pkl is", "over the limit of 100",
                Limits.PICKLE_BYTES);
        assertMentions(refusal(zip, Limits.defaults().withMaxTensors(2)), "has 3 entries, over the limit of 2 tensors",
                Limits.TENSORS);
        // a.t is a transposed view: gathered, so bounded by maxTensorBytes (64 bytes of float32).
        assertMentions(refusal(zip, Limits.defaults().withMaxTensorBytes(63)), "tensor a.t of shape [4, 4] would need"
                + " 64 bytes, over the limit of 63", Limits.TENSOR_BYTES);
    }

    @Test
    void pickleDepthValuesMemoAndStrings() {
        var deep = new PickleWriter().proto(2);
        for (int i = 0; i < 20; i++) {
            deep.mark();
        }
        assertMentions(pickleRefusal(deep, Limits.defaults().withMaxMarkDepth(16)), "more than 16 nested marks",
                Limits.PICKLE_DEPTH);
        var many = new PickleWriter().proto(2).emptyList().mark();
        for (int i = 0; i < 100; i++) {
            many.integer(i);
        }
        assertMentions(pickleRefusal(many.op('e'), Limits.defaults().withMaxValues(50)), "more than 50 values",
                Limits.PICKLE_VALUES);
        var memo = new PickleWriter().proto(4).emptyList();
        for (int i = 0; i < 10; i++) {
            memo.op(0x94);
        }
        assertMentions(pickleRefusal(memo, Limits.defaults().withMaxMemoEntries(4)), "memo grows past 4 entries",
                Limits.MEMO_ENTRIES);
        assertMentions(pickleRefusal(new PickleWriter().proto(2).str("x".repeat(100)),
                Limits.defaults().withMaxStringBytes(99)), "a string of 100 bytes is over the limit of 99",
                Limits.STRING_BYTES);
    }

    @Test
    void systemPropertiesOverrideTheDefaults() {
        String old = System.getProperty(Limits.PICKLE_DEPTH);
        try {
            System.setProperty(Limits.PICKLE_DEPTH, "3");
            assertEquals(3, Limits.defaults().maxMarkDepth());
            System.setProperty(Limits.PICKLE_DEPTH, "2k");
            assertEquals(2048, Limits.defaults().maxMarkDepth());
            System.setProperty(Limits.PICKLE_DEPTH, "lots");
            var e = assertThrows(IllegalArgumentException.class, Limits::defaults);
            assertMentions(e.getMessage(), Limits.PICKLE_DEPTH, "'lots' is not a positive integer");
            System.setProperty(Limits.PICKLE_DEPTH, "0");
            assertMentions(assertThrows(IllegalArgumentException.class, Limits::defaults).getMessage(), "must be in [1,");
        } finally {
            if (old == null) {
                System.clearProperty(Limits.PICKLE_DEPTH);
            } else {
                System.setProperty(Limits.PICKLE_DEPTH, old);
            }
        }
        assertEquals(1 << 16, Limits.defaults().maxMarkDepth());
    }
}
