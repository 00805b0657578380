package dev.skipjack.engine.hardening;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.skipjack.engine.ResNet;
import dev.skipjack.format.ModelFile;
import dev.skipjack.format.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Coverage-guided fuzzing of the model file reader ({@link ModelFile#parse}) and the loader's validation
 * ({@link ResNet#load}: architecture, tensors against the graph, checksums, finite weights). Whatever the bytes,
 * the outcome is a loaded model or a {@link ModelFormatException} naming the file; any other exception, an
 * error, a hang or an out-of-memory is a finding.
 *
 * <p>Plain {@code mvn test} replays {@code src/test/resources/dev/skipjack/engine/hardening/ModelFileFuzzTestInputs/};
 * {@code JAZZER_FUZZ=1} fuzzes (docs/SECURITY.md). Seeds come from {@link FuzzSeeds}.
 */
class ModelFileFuzzTest {
    private static final Path FILE;

    static {
        try {
            FILE = Files.createTempFile("skipjack-fuzz", ".skj");
            FILE.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "30s")
    void parseAndLoad(byte[] data) throws IOException {
        try {
            ModelFile.parse(FILE, MemorySegment.ofArray(data));
        } catch (ModelFormatException expected) {
            // ResNet.load would parse the same bytes the same way first; skipping the file write here keeps
            // the fuzzer's speed for the inputs that get past the parser.
            requireNamesFile(expected);
            return;
        }
        Files.write(FILE, data);
        try (ResNet model = ResNet.load(FILE, new ResNet.Options(1))) {
            if (model.numClasses() < 1) {
                throw new AssertionError("loaded a model without classes");
            }
        } catch (ModelFormatException expected) {
            requireNamesFile(expected);
        }
    }

    private static void requireNamesFile(ModelFormatException e) {
        if (e.getMessage() == null || !e.getMessage().startsWith(FILE.toString())) {
            throw new AssertionError("a refusal that does not name the file: " + e.getMessage(), e);
        }
    }
}
