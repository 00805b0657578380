package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The central directory reader on archives written field by field, intact and damaged. */
class ZipArchiveTest {
    private static final byte[] HELLO = "hello, zip".getBytes(StandardCharsets.US_ASCII);

    private static ZipArchive read(byte[] zip, Limits limits) throws CheckpointException {
        return ZipArchive.read("t.zip", MemorySegment.ofArray(zip), limits);
    }

    private static String failure(byte[] zip, Limits limits) {
        return assertThrows(CheckpointException.class, () -> {
            ZipArchive z = read(zip, limits);
            try (Arena arena = Arena.ofConfined()) {
                for (ZipArchive.Entry e : z.entries()) {
                    z.contents(e, arena);
                }
            }
        }).getMessage();
    }

    private static String failure(byte[] zip) {
        return failure(zip, Limits.defaults());
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(42).nextBytes(b);
        return b;
    }

    private static int u32(byte[] b, int off) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt(off);
    }

    private static void put32(byte[] b, int off, int v) {
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(off, v);
    }

    /** Offset of the central directory, from the (non-zip64) end record. */
    private static int cd(byte[] zip) {
        return u32(zip, zip.length - 22 + 16);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void readsStoredAndDeflatedEntries(boolean zip64) throws CheckpointException {
        byte[] big = random(100_000);
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("a/x", HELLO), new TestZip.Entry("a/y", big, true),
                TestZip.Entry.stored("a/empty", new byte[0])), zip64);
        ZipArchive z = read(zip, Limits.defaults());
        assertEquals(List.of("a/x", "a/y", "a/empty"), z.entries().stream().map(ZipArchive.Entry::name).toList());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = z.contents(z.find("a/x"), arena);
            assertArrayEquals(HELLO, x.toArray(ValueLayout.JAVA_BYTE));
            // A stored entry is a slice of the archive itself: no copy.
            assertEquals(z.find("a/x").dataOffset(), x.address() - MemorySegment.ofArray(zip).address(), 0);
            assertArrayEquals(big, z.contents(z.find("a/y"), arena).toArray(ValueLayout.JAVA_BYTE));
            assertEquals(0, z.contents(z.find("a/empty"), arena).byteSize());
        }
    }

    @Test
    void corruptDataFailsTheCrc() {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("a/x", HELLO)), false);
        zip[30 + 3 + 2] ^= 1;
        assertTrue(failure(zip).contains("t.zip: zip entry a/x is corrupt (CRC-32"));
    }

    @Test
    void missingEndRecord() {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("a/x", HELLO)), false);
        assertTrue(failure(java.util.Arrays.copyOf(zip, zip.length - 3))
                .contains("end of central directory record not found"));
    }

    @Test
    void centralDirectoryOutsideTheFile() {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("a/x", HELLO)), false);
        put32(zip, zip.length - 22 + 16, 0x7000_0000);
        assertTrue(failure(zip).contains("lies outside the file"));
    }

    @Test
    void localHeaderOutOfBounds() {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("a/x", HELLO)), false);
        put32(zip, cd(zip) + 42, 0x7fff_ffff);
        assertTrue(failure(zip).contains("zip entry a/x: local header at offset 2147483647 is missing or out of bounds"));
    }

    @Test
    void entryDataPastTheEntries() {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("a/x", HELLO)), false);
        put32(zip, cd(zip) + 20, 5000);
        put32(zip, cd(zip) + 24, 5000);
        assertTrue(failure(zip).contains("zip entry a/x: data (offset 33, 5000 bytes) runs past"));
    }

    @Test
    void encryptedAndUnknownMethodsAreRefused() {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("a/x", HELLO)), false);
        zip[cd(zip) + 8] |= 1;
        assertTrue(failure(zip).contains("a/x is encrypted"));
        zip = TestZip.build(List.of(TestZip.Entry.stored("a/x", HELLO)), false);
        zip[cd(zip) + 10] = 12;
        assertTrue(failure(zip).contains("a/x uses compression method 12; only stored (0) and deflate (8)"));
    }

    @Test
    void tooManyEntries() {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("1", HELLO), TestZip.Entry.stored("2", HELLO),
                TestZip.Entry.stored("3", HELLO)), false);
        assertTrue(failure(zip, Limits.defaults().withMaxZipEntries(2)).contains("3 entries, over the limit of 2"));
    }

    @Test
    void duplicateNames() {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("a", HELLO), TestZip.Entry.stored("a", HELLO)), false);
        assertTrue(failure(zip).contains("zip entry a appears twice"));
    }

    @Test
    void deflateBombIsRefusedBeforeInflating() {
        byte[] zip = TestZip.build(List.of(new TestZip.Entry("zeros", new byte[20 << 20], true)), false);
        assertTrue(zip.length < 100_000);
        assertTrue(failure(zip).contains("claims a compression ratio over 200:1"));
        byte[] ok = TestZip.build(List.of(new TestZip.Entry("r", random(5000), true)), false);
        assertTrue(failure(ok, Limits.defaults().withMaxInflatedBytes(4000))
                .contains("zip entry r inflates to 5000 bytes, over the limit of 4000 for all deflated entries"));
        byte[] two = TestZip.build(List.of(new TestZip.Entry("r", random(3000), true),
                new TestZip.Entry("s", random(3000), true)), false);
        assertTrue(failure(two, Limits.defaults().withMaxInflatedBytes(5000))
                .contains("zip entry s inflates to 3000 bytes, over the limit of 5000 for all deflated entries "
                        + "together (3000 used) (" + Limits.INFLATED_BYTES + ")"));
    }

    @Test
    void inflatedSizeMustMatchTheDirectory() {
        byte[] data = random(5000);
        byte[] zip = TestZip.build(List.of(new TestZip.Entry("r", data, true)), false);
        put32(zip, cd(zip) + 24, 4000);
        assertTrue(failure(zip).contains("inflates to more than its declared 4000 bytes"));
        zip = TestZip.build(List.of(new TestZip.Entry("r", data, true)), false);
        put32(zip, cd(zip) + 24, 6000);
        assertTrue(failure(zip).contains("r inflates to 5000 bytes, but the central directory says 6000"));
    }

    @Test
    void truncatedDeflateStream() {
        byte[] data = random(5000);
        byte[] zip = TestZip.build(List.of(new TestZip.Entry("r", data, true)), false);
        int csize = u32(zip, cd(zip) + 20);
        put32(zip, cd(zip) + 20, csize - 100);
        String msg = failure(zip);
        assertTrue(msg.contains("deflate stream is truncated") || msg.contains("corrupt deflate data"), msg);
    }
}
