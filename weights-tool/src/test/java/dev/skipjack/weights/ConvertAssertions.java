package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.format.ModelFile;
import dev.skipjack.format.proto.DType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/** Runs the convert command the way the CLI does and checks its result or its failure. */
final class ConvertAssertions {
    private ConvertAssertions() {}

    /** Runs {@code convert CHECKPOINT -o OUT extra...}; returns what it printed on stdout. */
    static String convert(Path checkpoint, Path out, String... extra) throws IOException {
        var args = new ArrayList<>(List.of(checkpoint.toString(), "-o", out.toString()));
        args.addAll(List.of(extra));
        var stdout = new ByteArrayOutputStream();
        var stderr = new ByteArrayOutputStream();
        int rc = ConvertCommand.run(args.toArray(String[]::new), new PrintStream(stdout, true, StandardCharsets.UTF_8),
                new PrintStream(stderr, true, StandardCharsets.UTF_8));
        assertEquals(0, rc);
        assertTrue(Files.isRegularFile(out), "no output " + out);
        return stdout.toString(StandardCharsets.UTF_8);
    }

    /**
     * Asserts that converting fails with a message containing every one of {@code parts}, and that the output
     * folder holds no model file and no temporary leftover. Returns the message.
     */
    static String assertFailsCleanly(Path checkpoint, String[] extraArgs, String... parts) throws IOException {
        Path dir = Files.createTempDirectory("skipjack-convert-out");
        Path out = dir.resolve("model.skj");
        IOException e = assertThrows(IOException.class, () -> convert(checkpoint, out, extraArgs));
        String msg = e.getMessage();
        for (String p : parts) {
            assertTrue(msg.contains(p), "message should contain '" + p + "' but is: " + msg);
        }
        assertFalse(msg.contains("\n"), "one line: " + msg);
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.toList(), "the failed conversion left files behind");
        }
        Files.delete(dir);
        return msg;
    }

    static String assertFailsCleanly(Path checkpoint, String... parts) throws IOException {
        return assertFailsCleanly(checkpoint, new String[0], parts);
    }

    static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** Every tensor of the model file equals the expected one (dtype, shape, sha256 of its bytes), none extra. */
    static void assertTensorsMatch(Path model, List<Fixtures.ExpectedTensor> expected) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ModelFile m = ModelFile.open(model, arena);
            assertEquals(expected.size(), m.tensors().size(), "tensor count of " + model);
            for (Fixtures.ExpectedTensor x : expected) {
                ModelFile.Tensor t = m.tensor(x.name());
                assertEquals(x.dtype().equals("int64") ? DType.INT64 : DType.FLOAT32, t.dtype(), x.name());
                assertArrayEquals(x.shape(), t.shape(), x.name());
                assertEquals(x.sha256(), sha256(t.data().toArray(ValueLayout.JAVA_BYTE)),
                        x.name() + ": bytes differ from PyTorch's");
                assertTrue(t.checksumMatches(), x.name() + ": CRC-32 in the header does not match the bytes");
            }
        }
    }
}
