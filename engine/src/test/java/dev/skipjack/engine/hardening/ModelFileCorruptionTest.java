package dev.skipjack.engine.hardening;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.skipjack.engine.ResNet;
import dev.skipjack.format.ModelFormatException;
import dev.skipjack.format.TensorData;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model file damaged anywhere (truncated, a bit flipped in the preamble, the header or the weights, a NaN
 * planted in a weight) is refused at load with a {@link ModelFormatException} that names the file, before any
 * kernel reads a weight. A damaged file that still loads must be one whose damage did not touch anything the
 * network uses (metadata text), and then it must compute exactly what the intact file computes.
 */
class ModelFileCorruptionTest {
    @TempDir
    static Path dir;
    static Path good;
    static byte[] bytes;
    static int headerEnd;
    static float[] input = TinyModel.input(1, 32, 24, 7);
    static float[] expected;

    @BeforeAll
    static void writeModel() throws IOException {
        good = TinyModel.write(dir.resolve("tiny.skj"));
        bytes = Files.readAllBytes(good);
        headerEnd = 16 + ByteBuffer.wrap(bytes, 12, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        try (var m = ResNet.load(good, new ResNet.Options(1))) {
            expected = m.predict(input, 1, 32, 24);
        }
    }

    /** Loads {@code damaged}; returns the refusal, or null if it loaded and computed what the intact file does. */
    private static ModelFormatException load(byte[] damaged, String what) throws IOException {
        Path p = dir.resolve("damaged.skj");
        Files.write(p, damaged);
        return load(p, what);
    }

    /** The intact file with one byte changed (in place: rewriting 11 MB per flip would dominate the test). */
    private static ModelFormatException loadFlipped(int at, int bit) throws IOException {
        Path p = dir.resolve("flipped.skj");
        if (!Files.exists(p)) {
            Files.write(p, bytes);
        }
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {(byte) (bytes[at] ^ (1 << bit))}), at);
            try {
                return load(p, "bit " + bit + " of byte " + at + " flipped");
            } finally {
                ch.write(ByteBuffer.wrap(new byte[] {bytes[at]}), at);
            }
        }
    }

    private static ModelFormatException load(Path p, String what) throws IOException {
        try (var m = ResNet.load(p, new ResNet.Options(1))) {
            assertArrayEquals(expected, m.predict(input, 1, 32, 24), what + " loaded but computes something else");
            return null;
        } catch (ModelFormatException e) {
            assertTrue(e.getMessage().startsWith(p.toString()), what + ": message does not name the file: "
                    + e.getMessage());
            return e;
        } catch (RuntimeException | Error e) {
            throw new AssertionError(what + ": " + e, e);
        }
    }

    @Test
    void truncatedAnywhereIsRefused() throws IOException {
        // Densely through the preamble and header, then at 40 places through the weights.
        var cuts = new java.util.TreeSet<Integer>();
        for (int i = 0; i <= Math.min(headerEnd + 64, bytes.length); i += i < 64 ? 1 : 7) {
            cuts.add(i);
        }
        var r = new Random(1);
        for (int i = 0; i < 40; i++) {
            cuts.add(headerEnd + r.nextInt(bytes.length - headerEnd));
        }
        cuts.add(bytes.length - 1);
        for (int cut : cuts) {
            ModelFormatException e = load(java.util.Arrays.copyOf(bytes, cut), "truncated to " + cut + " bytes");
            if (e == null) {
                fail("a file truncated to " + cut + " of " + bytes.length + " bytes loaded");
            }
        }
    }

    @Test
    void bitFlipsInPreambleAndHeaderAreRefusedOrHarmless() throws IOException {
        var r = new Random(2);
        int refused = 0;
        int flips = 0;
        // Every bit of the preamble, then 300 random bits of the header.
        for (int i = 0; i < 16 * 8 + 300; i++) {
            int at = i < 128 ? i / 8 : 16 + r.nextInt(headerEnd - 16);
            int bit = i < 128 ? i % 8 : r.nextInt(8);
            flips++;
            if (loadFlipped(at, bit) != null) {
                refused++;
            }
        }
        // Nearly every header byte is a name, a shape, an offset or a checksum (the metadata is empty): what
        // can change harmlessly is little more than a field tag turned into an unknown field.
        assertTrue(refused > flips * 3 / 4, refused + " of " + flips + " flips refused");
    }

    @Test
    void bitFlipsInWeightsFailTheChecksum() throws IOException {
        var r = new Random(3);
        for (int i = 0; i < 40; i++) {
            int at = headerEnd + r.nextInt(bytes.length - headerEnd);
            ModelFormatException e = loadFlipped(at, r.nextInt(8));
            // Padding between tensors is not covered by a checksum, and a flip there is harmless.
            if (e != null) {
                assertTrue(e.getMessage().contains("CRC-32") && e.getMessage().contains("tensor "), e.getMessage());
            }
        }
    }

    @Test
    void nonFiniteWeightsAreRefusedNamingTheTensor() throws IOException {
        assertRefused(plant("layer2.0.conv2.weight", 5, Float.NaN), "tensor layer2.0.conv2.weight has a non-finite"
                + " value NaN at output channel 0, element 5");
        assertRefused(plant("fc.bias", 2, Float.POSITIVE_INFINITY), "tensor fc.bias [3] holds Infinity at element 2");
        assertRefused(plant("fc.weight", 100, Float.NaN), "tensor fc.weight [3, 2048] holds NaN at element 100");
        assertRefused(plant("layer1.0.bn1.running_var", 0, Float.POSITIVE_INFINITY),
                "batch norm layer1.0.bn1 channel 0 is not usable");
        assertRefused(plant("bn1.running_var", 3, -1f), "batch norm bn1 channel 3 is not usable");
        // Finite, but folding overflows: layer1.0.conv3's weights (fan-in 1) are mostly above 1 in magnitude.
        assertRefused(plant("layer1.0.bn3.weight", 1, Float.MAX_VALUE), "which batch norm layer1.0.bn3");
    }

    private static Path plant(String tensor, int index, float value) throws IOException {
        return TinyModel.write(dir.resolve("planted.skj"), t -> {
            if (!t.name().equals(tensor)) {
                return t;
            }
            MemorySegment copy = MemorySegment.ofArray(new byte[(int) t.data().byteSize()]);
            copy.copyFrom(t.data());
            copy.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), index * 4L, value);
            return new TensorData(t.name(), t.dtype(), t.shape(), copy, t.sourceDType());
        });
    }

    private static void assertRefused(Path file, String fragment) {
        var e = assertThrows(ModelFormatException.class, () -> ResNet.load(file, new ResNet.Options(1)).close());
        assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
    }
}
