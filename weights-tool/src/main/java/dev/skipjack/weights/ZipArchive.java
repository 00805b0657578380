package dev.skipjack.weights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A read-only view of a zip archive held in a {@link MemorySegment} (normally the mapped checkpoint). Parses the
 * central directory itself rather than using {@code java.util.zip}, so that stored entries (what
 * {@code torch.save} writes) are handed out as slices of the mapping, never copied, and so that every size and
 * offset is checked against the file before it is used. Supports zip64; refuses multi-disk and encrypted
 * archives and compression other than stored and deflate.
 */
final class ZipArchive {
    /**
     * One entry of the central directory.
     *
     * @param dataOffset absolute offset of the entry's (possibly compressed) bytes in the file
     */
    record Entry(String name, int method, long compressedSize, long size, int crc32, long dataOffset) {
        static final int STORED = 0;
        static final int DEFLATED = 8;
    }

    private static final int EOCD_SIG = 0x06054b50;
    private static final int EOCD_BYTES = 22;
    private static final int ZIP64_LOCATOR_SIG = 0x07064b50;
    private static final int ZIP64_LOCATOR_BYTES = 20;
    private static final int ZIP64_EOCD_SIG = 0x06064b50;
    private static final int ZIP64_EOCD_BYTES = 56;
    private static final int CENTRAL_SIG = 0x02014b50;
    private static final int CENTRAL_BYTES = 46;
    private static final int LOCAL_SIG = 0x04034b50;
    private static final int LOCAL_BYTES = 30;
    private static final int ZIP64_EXTRA_ID = 0x0001;
    private static final long U32_MAX = 0xFFFFFFFFL;
    private static final int U16_MAX = 0xFFFF;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String fileName;
    private final MemorySegment file;
    private final Limits limits;
    private final Map<String, Entry> entries;
    /** Bytes inflated so far, against {@link Limits#maxInflatedBytes()}. */
    private long inflated;

    private ZipArchive(String fileName, MemorySegment file, Limits limits, Map<String, Entry> entries) {
        this.fileName = fileName;
        this.file = file;
        this.limits = limits;
        this.entries = entries;
    }

    /** True if the segment starts like a zip archive (a local file header). */
    static boolean looksLikeZip(MemorySegment file) {
        return file.byteSize() >= 4 && file.get(U32, 0) == LOCAL_SIG;
    }

    /** Parses and validates the central directory of {@code file}; {@code fileName} is used in messages. */
    static ZipArchive read(String fileName, MemorySegment file, Limits limits) throws CheckpointException {
        return new Reader(fileName, file, limits).read();
    }

    /** All entries, in central directory order. */
    List<Entry> entries() {
        return List.copyOf(entries.values());
    }

    /** The entry called {@code name}, or null. */
    Entry find(String name) {
        return entries.get(name);
    }

    /**
     * The uncompressed bytes of {@code e}, checked against the entry's CRC-32. A stored entry is a slice of the
     * file; a deflated one is inflated into {@code arena} within the {@link Limits}.
     */
    MemorySegment contents(Entry e, Arena arena) throws CheckpointException {
        MemorySegment out = switch (e.method()) {
            case Entry.STORED -> file.asSlice(e.dataOffset(), e.size());
            case Entry.DEFLATED -> inflate(e, arena);
            default -> throw new IllegalStateException("method checked in read()");
        };
        if (crc32(out) != e.crc32()) {
            throw new CheckpointException(fileName + ": zip entry " + e.name() + " is corrupt (CRC-32 "
                    + Integer.toHexString(crc32(out)) + ", the central directory says "
                    + Integer.toHexString(e.crc32()) + ")");
        }
        return out;
    }

    private MemorySegment inflate(Entry e, Arena arena) throws CheckpointException {
        String where = fileName + ": zip entry " + e.name();
        if (e.size() > limits.maxInflatedBytes() - inflated) {
            throw new CheckpointException(where + " inflates to " + e.size() + " bytes, over the limit of "
                    + limits.maxInflatedBytes() + " for all deflated entries together (" + inflated + " used) ("
                    + Limits.INFLATED_BYTES + ")");
        }
        if (e.size() > Math.max(1, e.compressedSize()) * (long) limits.maxDeflateRatio()) {
            throw new CheckpointException(where + " claims a compression ratio over " + limits.maxDeflateRatio()
                    + ":1 (" + e.compressedSize() + " -> " + e.size() + " bytes; " + Limits.DEFLATE_RATIO
                    + "); refusing a possible zip bomb");
        }
        inflated += e.size();
        MemorySegment out = arena.allocate(Math.max(1, e.size()), 64).asSlice(0, e.size());
        var inflater = new Inflater(true);
        try {
            inflater.setInput(file.asSlice(e.dataOffset(), e.compressedSize()).asByteBuffer());
            var dst = out.asByteBuffer();
            while (!inflater.finished()) {
                int n = inflater.inflate(dst);
                if (n == 0 && !inflater.finished()) {
                    if (!dst.hasRemaining()) {
                        // Declared size reached but the stream goes on: probe for one more byte.
                        byte[] probe = new byte[1];
                        if (inflater.inflate(probe) > 0) {
                            throw new CheckpointException(where + " inflates to more than its declared "
                                    + e.size() + " bytes");
                        }
                        if (!inflater.finished()) {
                            throw new CheckpointException(where + ": deflate stream is truncated (no end after "
                                    + e.size() + " bytes)");
                        }
                    } else if (inflater.needsInput() || inflater.needsDictionary()) {
                        throw new CheckpointException(where + ": deflate stream is truncated after "
                                + dst.position() + " of " + e.size() + " bytes");
                    }
                }
            }
            if (dst.hasRemaining()) {
                throw new CheckpointException(where + " inflates to " + dst.position() + " bytes, but the central "
                        + "directory says " + e.size());
            }
        } catch (DataFormatException ex) {
            throw new CheckpointException(where + ": corrupt deflate data (" + ex.getMessage() + ")", ex);
        } finally {
            inflater.end();
        }
        return out;
    }

    static int crc32(MemorySegment data) {
        var crc = new CRC32();
        long size = data.byteSize();
        for (long off = 0; off < size; off += 1 << 24) {
            crc.update(data.asSlice(off, Math.min(1 << 24, size - off)).asByteBuffer());
        }
        return (int) crc.getValue();
    }

    /** The parse of the end records and the central directory, one bounds check at a time. */
    private static final class Reader {
        private final String fileName;
        private final MemorySegment file;
        private final Limits limits;
        private final long size;

        Reader(String fileName, MemorySegment file, Limits limits) {
            this.fileName = fileName;
            this.file = file;
            this.limits = limits;
            this.size = file.byteSize();
        }

        private CheckpointException bad(String what) {
            return new CheckpointException(fileName + ": " + what);
        }

        private int u16(long off) {
            return Short.toUnsignedInt(file.get(U16, off));
        }

        private long u32(long off) {
            return Integer.toUnsignedLong(file.get(U32, off));
        }

        /** An unsigned 64-bit field, which must also fit a non-negative long. */
        private long u64(long off, String what) throws CheckpointException {
            long v = file.get(U64, off);
            if (v < 0) {
                throw bad("zip64 " + what + " " + Long.toUnsignedString(v) + " is out of range");
            }
            return v;
        }

        ZipArchive read() throws CheckpointException {
            long eocd = findEndOfCentralDirectory();
            if (u16(eocd + 4) != 0 || u16(eocd + 6) != 0) {
                throw bad("multi-disk zip archives are not supported");
            }
            long count = u16(eocd + 10);
            long cdSize = u32(eocd + 12);
            long cdOffset = u32(eocd + 16);
            long cdLimit = eocd;

            long locator = eocd - ZIP64_LOCATOR_BYTES;
            if (locator >= 0 && file.get(U32, locator) == ZIP64_LOCATOR_SIG) {
                long z = u64(locator + 8, "end record offset");
                if (z > locator - ZIP64_EOCD_BYTES || file.get(U32, z) != ZIP64_EOCD_SIG) {
                    throw bad("zip64 end of central directory record at offset " + z
                            + " is missing or out of bounds; the file is truncated or corrupt");
                }
                if (file.get(U32, z + 16) != 0 || file.get(U32, z + 20) != 0) {
                    throw bad("multi-disk zip archives are not supported");
                }
                count = u64(z + 32, "entry count");
                cdSize = u64(z + 40, "central directory size");
                cdOffset = u64(z + 48, "central directory offset");
                cdLimit = z;
            } else if (count == U16_MAX || cdSize == U32_MAX || cdOffset == U32_MAX) {
                throw bad("zip64 archive without its zip64 end record locator; the file is truncated or corrupt");
            }
            if (cdOffset > cdLimit || cdSize > cdLimit - cdOffset) {
                throw bad("central directory (offset " + cdOffset + ", " + cdSize + " bytes) lies outside the file "
                        + "(" + size + " bytes); the file is truncated or corrupt");
            }
            if (count > limits.maxZipEntries()) {
                throw bad("zip archive has " + count + " entries, over the limit of " + limits.maxZipEntries() + " ("
                        + Limits.ZIP_ENTRIES + ")");
            }
            if (count * CENTRAL_BYTES > cdSize) {
                throw bad("zip central directory of " + cdSize + " bytes cannot hold " + count + " entries");
            }

            var map = new LinkedHashMap<String, Entry>((int) Math.min(count * 2, 1 << 16));
            long p = cdOffset;
            long cdEnd = cdOffset + cdSize;
            for (long i = 0; i < count; i++) {
                Entry e = readCentralEntry(p, cdEnd, cdOffset);
                if (map.put(e.name(), e) != null) {
                    throw bad("zip entry " + e.name() + " appears twice");
                }
                p += CENTRAL_BYTES + u16(p + 28) + u16(p + 30) + u16(p + 32);
            }
            return new ZipArchive(fileName, file, limits, Collections.unmodifiableMap(map));
        }

        /** The last "end of central directory" record whose comment reaches exactly to the end of the file. */
        private long findEndOfCentralDirectory() throws CheckpointException {
            long lowest = Math.max(0, size - EOCD_BYTES - U16_MAX);
            for (long p = size - EOCD_BYTES; p >= lowest; p--) {
                if (file.get(U32, p) == EOCD_SIG && p + EOCD_BYTES + u16(p + 20) == size) {
                    return p;
                }
            }
            throw bad("zip end of central directory record not found: the file is truncated or not a zip archive");
        }

        private Entry readCentralEntry(long p, long cdEnd, long cdOffset) throws CheckpointException {
            if (p > cdEnd - CENTRAL_BYTES || file.get(U32, p) != CENTRAL_SIG) {
                throw bad("zip central directory is corrupt at offset " + p);
            }
            int flags = u16(p + 8);
            int method = u16(p + 10);
            int crc = file.get(U32, p + 16);
            long csize = u32(p + 20);
            long usize = u32(p + 24);
            int nameLen = u16(p + 28);
            int extraLen = u16(p + 30);
            int commentLen = u16(p + 32);
            long local = u32(p + 42);
            if (p + CENTRAL_BYTES + nameLen + extraLen + commentLen > cdEnd) {
                throw bad("zip central directory entry at offset " + p + " runs past the directory's end");
            }
            String name = new String(file.asSlice(p + CENTRAL_BYTES, nameLen).toArray(ValueLayout.JAVA_BYTE),
                    StandardCharsets.UTF_8);
            String where = "zip entry " + name;

            // The zip64 extra field holds, in this order, only those of the three values that overflowed.
            long x = p + CENTRAL_BYTES + nameLen;
            long xEnd = x + extraLen;
            while (x + 4 <= xEnd) {
                int id = u16(x);
                int len = u16(x + 2);
                long data = x + 4;
                if (data + len > xEnd) {
                    throw bad(where + ": extra field runs past its end");
                }
                if (id == ZIP64_EXTRA_ID) {
                    long q = data;
                    if (usize == U32_MAX) {
                        usize = zip64Field(q, data + len, where, "size");
                        q += 8;
                    }
                    if (csize == U32_MAX) {
                        csize = zip64Field(q, data + len, where, "compressed size");
                        q += 8;
                    }
                    if (local == U32_MAX) {
                        local = zip64Field(q, data + len, where, "local header offset");
                    }
                }
                x = data + len;
            }
            if ((flags & 1) != 0) {
                throw bad(where + " is encrypted; encrypted checkpoints are not supported");
            }
            if (method != Entry.STORED && method != Entry.DEFLATED) {
                throw bad(where + " uses compression method " + method
                        + "; only stored (0) and deflate (8) are supported");
            }
            if (method == Entry.STORED && csize != usize) {
                throw bad(where + " is stored but its sizes differ (" + csize + " vs " + usize + ")");
            }
            if (local > cdOffset - LOCAL_BYTES || cdOffset < LOCAL_BYTES || file.get(U32, local) != LOCAL_SIG) {
                throw bad(where + ": local header at offset " + local + " is missing or out of bounds; "
                        + "the file is truncated or corrupt");
            }
            long dataOffset = local + LOCAL_BYTES + u16(local + 26) + u16(local + 28);
            if (dataOffset > cdOffset || csize > cdOffset - dataOffset) {
                throw bad(where + ": data (offset " + dataOffset + ", " + csize + " bytes) runs past the end of the "
                        + "entries at offset " + cdOffset + "; the file is truncated or corrupt");
            }
            return new Entry(name, method, csize, usize, crc, dataOffset);
        }

        private long zip64Field(long q, long end, String where, String what) throws CheckpointException {
            if (q + 8 > end) {
                throw bad(where + ": zip64 extra field lacks the " + what);
            }
            return u64(q, what);
        }
    }
}
