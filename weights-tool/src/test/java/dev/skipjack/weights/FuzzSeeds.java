package dev.skipjack.weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes the seed corpus of {@link CheckpointFuzzTest}: small checkpoints in each container variant and a few
 * pickles, each a few hundred bytes, so that the fuzzer starts from inputs that reach deep into the reader.
 * Inputs that once failed are added to the same folders by hand (named {@code crash-*} or
 * {@code regression-*}) and never regenerated. Run from the module folder:
 * <pre>
 *   java -cp target/test-classes:target/classes:... dev.skipjack.weights.FuzzSeeds src/test/resources
 * </pre>
 */
final class FuzzSeeds {
    private FuzzSeeds() {}

    public static void main(String[] args) throws IOException {
        Path base = Path.of(args[0]).resolve("dev/skipjack/weights/CheckpointFuzzTestInputs");
        Path zip = base.resolve("zipCheckpoint");
        Path legacy = base.resolve("legacyCheckpoint");
        Path pickle = base.resolve("unpickler");

        write(zip, "seed-stored", small().zip());
        var c = small();
        write(zip, "seed-zip64-deflated-wrapped", c.zip(c.pickle("state_dict", "module."), true, true));
        write(zip, "seed-deflated-model", c.zip(c.pickle("model", ""), true, false));
        write(legacy, "seed-legacy", small().legacy(null));
        var half = new SyntheticCheckpoint();
        half.storages.add(new SyntheticCheckpoint.Storage("BFloat16Storage", 2, new byte[24]));
        half.tensors.put("x.weight", new SyntheticCheckpoint.View(0, 0, new long[] {3, 4}, new long[] {1, 3}));
        write(legacy, "seed-legacy-bf16-strided", half.legacy(null));

        write(pickle, "seed-state-dict", small().pickle(null, ""));
        write(pickle, "seed-wrapped", small().pickle("state_dict", "module."));
        write(pickle, "seed-refused-global", new PickleWriter().proto(2).global("os", "system").str("id")
                .op(0x85).op('R').stop().bytes());
        var containers = new PickleWriter().proto(4).op(0x95).le64(0).emptyDict().op(0x94).mark()
                .shortStr("k").emptyList().op(0x94).mark().integer(1).integer(70000).op('e')
                .shortStr("t").op(')').op(0x85).op('u').op('h').raw(1).op('0');
        write(pickle, "seed-containers-memo", containers.stop().bytes());
    }

    /** Two storages (float32 and float16) and views of them: contiguous, transposed, offset. */
    static SyntheticCheckpoint small() {
        var c = new SyntheticCheckpoint();
        c.storages.add(SyntheticCheckpoint.floats(64));
        c.storages.add(new SyntheticCheckpoint.Storage("HalfStorage", 2, new byte[32]));
        c.tensors.put("a.weight", new SyntheticCheckpoint.View(0, 0, new long[] {4, 4}, new long[] {4, 1}));
        c.tensors.put("a.t", new SyntheticCheckpoint.View(0, 3, new long[] {4, 4}, new long[] {1, 4}));
        c.tensors.put("b", new SyntheticCheckpoint.View(1, 2, new long[] {3, 2}, new long[] {2, 1}));
        return c;
    }

    private static void write(Path dir, String name, byte[] bytes) throws IOException {
        Files.createDirectories(dir);
        Files.write(dir.resolve(name), bytes);
    }
}
