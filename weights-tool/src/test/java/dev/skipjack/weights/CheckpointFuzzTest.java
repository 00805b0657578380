package dev.skipjack.weights;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;

/**
 * Coverage-guided fuzzing of everything a checkpoint passes through before the model file writer: container
 * (zip or legacy stream), restricted unpickler, state_dict lookup, architecture detection and validation, and
 * tensor assembly. The contract under test: whatever the bytes, the outcome is a result or a
 * {@link CheckpointException} with a message; any other exception, an error, a hang or an out-of-memory is a
 * finding.
 *
 * <p>Under plain {@code mvn test} each method replays its corpus in
 * {@code src/test/resources/dev/skipjack/weights/CheckpointFuzzTestInputs/<method>/} (seeds from
 * {@link FuzzSeeds} plus every input that once failed). With {@code JAZZER_FUZZ=1} the first selected method
 * fuzzes for {@code maxDuration} (run one at a time: {@code -Dtest=CheckpointFuzzTest#zipCheckpoint}); see
 * docs/SECURITY.md.
 */
class CheckpointFuzzTest {
    /** Tighter than the defaults so that a fuzzing run is not spent gathering gigabytes; the checks are the same. */
    static final Limits LIMITS = Limits.defaults().withMaxTensorBytes(1 << 20).withMaxInflatedBytes(4 << 20)
            .withMaxValues(1 << 16);

    @FuzzTest(maxDuration = "30s")
    void zipCheckpoint(byte[] data) {
        convertInMemory(data);
    }

    @FuzzTest(maxDuration = "30s")
    void legacyCheckpoint(byte[] data) {
        convertInMemory(data);
    }

    /** The unpickler alone, persistent ids resolved as torch's zip reader does. */
    @FuzzTest(maxDuration = "30s")
    void unpickler(byte[] data) {
        MemorySegment in = MemorySegment.ofArray(data);
        try {
            var u = new RestrictedUnpickler(in, 0, in.byteSize(), LIMITS, pid -> pid);
            Object root = u.load("fuzz.pkl");
            if (root instanceof Map<?, ?>) {
                StateDict.locate(new LoadedCheckpoint("fuzz.pkl", "zip", root, java.nio.ByteOrder.LITTLE_ENDIAN,
                        Map.of()), LIMITS);
            }
        } catch (CheckpointException expected) {
            requireMessage(expected);
        }
    }

    /** What {@link Converter#convert} does up to the writer, on in-memory bytes. */
    static void convertInMemory(byte[] data) {
        try (Arena arena = Arena.ofConfined()) {
            LoadedCheckpoint ck = CheckpointReader.read("fuzz.pt", MemorySegment.ofArray(data), arena, LIMITS);
            StateDict sd = StateDict.locate(ck, LIMITS);
            // Assemble every tensor first: detection refuses nearly every fuzzed state_dict, and assembly (views,
            // strides, dtype conversion) is where bounds matter most.
            for (var e : sd.tensors().entrySet()) {
                TensorAssembler.assemble(ck, e.getKey(), e.getValue(), arena, LIMITS.maxTensorBytes());
            }
            ResNetSpec spec = ArchitectureDetector.detect("fuzz.pt", sd.shapes());
            spec.validate("fuzz.pt", sd.tensors());
        } catch (CheckpointException expected) {
            requireMessage(expected);
        }
    }

    private static void requireMessage(Exception e) {
        if (e.getMessage() == null || e.getMessage().isBlank()) {
            throw new AssertionError("a refusal without a message", e);
        }
    }
}
