package dev.skipjack.weights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Seeded random damage to small valid checkpoints (zip, zip64 + deflate, legacy): reading, unpickling and
 * assembling must either succeed or throw {@link CheckpointException}, never an unchecked exception, an error
 * or a hang, whatever the bytes.
 */
class MutationFuzzTest {
    private static final int ROUNDS = 3000;

    private static SyntheticCheckpoint small() {
        var c = new SyntheticCheckpoint();
        c.storages.add(SyntheticCheckpoint.floats(64));
        c.storages.add(new SyntheticCheckpoint.Storage("HalfStorage", 2, new byte[32]));
        c.tensors.put("a.weight", new SyntheticCheckpoint.View(0, 0, new long[] {4, 4}, new long[] {4, 1}));
        c.tensors.put("a.t", new SyntheticCheckpoint.View(0, 3, new long[] {4, 4}, new long[] {1, 4}));
        c.tensors.put("b", new SyntheticCheckpoint.View(1, 2, new long[] {3, 2}, new long[] {2, 1}));
        return c;
    }

    @Test
    void zip() {
        fuzz(small().zip(), 1);
    }

    @Test
    void zip64Deflated() {
        var c = small();
        fuzz(c.zip(c.pickle("state_dict", "module."), true, true), 2);
    }

    @Test
    void legacy() {
        fuzz(small().legacy(null), 3);
    }

    private static void fuzz(byte[] original, long seed) {
        var random = new Random(seed);
        for (int round = 0; round < ROUNDS; round++) {
            byte[] b = mutate(original, random);
            try (Arena arena = Arena.ofConfined()) {
                LoadedCheckpoint ck = CheckpointReader.read("f.pt", MemorySegment.ofArray(b), arena,
                        Limits.defaults().withMaxTensorBytes(1 << 20).withMaxInflatedBytes(1 << 20));
                for (var e : StateDict.locate(ck).tensors().entrySet()) {
                    TensorAssembler.assemble(ck, e.getKey(), e.getValue(), arena, 1 << 20);
                }
            } catch (CheckpointException expected) {
                // a clear refusal is the right outcome for damaged input
            } catch (RuntimeException | Error e) {
                throw new AssertionError("round " + round + " (seed " + seed + "): " + e + " for input "
                        + Arrays.toString(Arrays.copyOf(b, Math.min(b.length, 64))) + "...", e);
            }
        }
    }

    private static byte[] mutate(byte[] original, Random random) {
        byte[] b = original.clone();
        switch (random.nextInt(4)) {
            case 0 -> {
                for (int i = 0, n = 1 + random.nextInt(4); i < n; i++) {
                    b[random.nextInt(b.length)] ^= (byte) (1 << random.nextInt(8));
                }
            }
            case 1 -> b[random.nextInt(b.length)] = (byte) random.nextInt(256);
            case 2 -> b = Arrays.copyOf(b, 1 + random.nextInt(b.length - 1));
            default -> {
                // A field set to an extreme value: 0xFF.. or 0x7F.. over 2, 4 or 8 bytes.
                int len = 2 << random.nextInt(3);
                int at = random.nextInt(Math.max(1, b.length - len));
                for (int i = 0; i < len && at + i < b.length; i++) {
                    b[at + i] = (byte) (i == len - 1 && random.nextBoolean() ? 0x7f : 0xff);
                }
            }
        }
        return b;
    }
}
