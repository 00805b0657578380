package dev.skipjack.format;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.DType;
import dev.skipjack.format.proto.Metadata;
import dev.skipjack.format.proto.ModelHeader;
import dev.skipjack.format.proto.TensorInfo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * A Skipjack model file, mapped read-only into an {@link Arena} the caller owns. Everything that can be
 * checked without reading the weights is checked in {@link #open}: magic, versions, header size, and for
 * every tensor its dtype, shape, alignment and that its bytes lie inside the file without overlapping
 * another's. Tensor data is then handed out as slices of the mapping, never copied.
 *
 * <p>The mapping lives as long as the arena: close the arena and every {@link Tensor#data()} becomes invalid.
 */
public final class ModelFile {
    public static final byte[] MAGIC = "SKIPJACK".getBytes(StandardCharsets.US_ASCII);
    public static final int CONTAINER_VERSION = 1;
    public static final int FORMAT_VERSION = 1;
    /** Magic, container version, header length. */
    public static final int PREAMBLE_BYTES = 16;
    /** Tensor data starts on this boundary: a cache line, and a multiple of every vector size. */
    public static final int ALIGNMENT = 64;
    /**
     * A header is names and shapes; anything bigger than this is a corrupt or hostile file. The limit in force
     * is {@link ReadLimits#maxHeaderBytes()}, lower by default; this is the most it may be raised to.
     */
    public static final int MAX_HEADER_BYTES = 64 << 20;

    /** A tensor of the file: its declared metadata and its bytes, a slice of the mapping. */
    public record Tensor(String name, DType dtype, long[] shape, MemorySegment data, int crc32, String sourceDType) {
        public long elementCount() {
            return Shapes.elementCount(shape);
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** Recomputes the CRC-32 of the bytes and compares it with the header's. */
        public boolean checksumMatches() {
            var crc = new CRC32();
            long size = data.byteSize();
            for (long off = 0; off < size; off += 8 << 20) {
                crc.update(data.asSlice(off, Math.min(8 << 20, size - off)).asByteBuffer());
            }
            return (int) crc.getValue() == crc32;
        }
    }

    private final Path path;
    private final ModelHeader header;
    private final Map<String, Tensor> tensors;

    private ModelFile(Path path, ModelHeader header, Map<String, Tensor> tensors) {
        this.path = path;
        this.header = header;
        this.tensors = tensors;
    }

    /** True if the file begins with the model file magic (used to tell model files from checkpoints). */
    public static boolean hasMagic(MemorySegment file) {
        if (file.byteSize() < MAGIC.length) {
            return false;
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (file.get(ValueLayout.JAVA_BYTE, i) != MAGIC[i]) {
                return false;
            }
        }
        return true;
    }

    /** Maps {@code path} into {@code arena} and validates it (see the class comment) within {@link ReadLimits#defaults()}. */
    public static ModelFile open(Path path, Arena arena) throws IOException {
        return open(path, arena, ReadLimits.defaults());
    }

    /** Maps {@code path} into {@code arena} and validates it (see the class comment) within {@code limits}. */
    public static ModelFile open(Path path, Arena arena, ReadLimits limits) throws IOException {
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
        return parse(path, file, limits);
    }

    /** Validates an already mapped or in-memory model file within {@link ReadLimits#defaults()}. */
    public static ModelFile parse(Path path, MemorySegment file) throws ModelFormatException {
        return parse(path, file, ReadLimits.defaults());
    }

    /**
     * Validates an already mapped or in-memory model file. Any malformed, truncated or over-limit file is a
     * {@link ModelFormatException} naming the file (and the tensor); no other exception escapes.
     */
    public static ModelFile parse(Path path, MemorySegment file, ReadLimits limits) throws ModelFormatException {
        long size = file.byteSize();
        if (size < PREAMBLE_BYTES || !hasMagic(file)) {
            throw new ModelFormatException(path + ": not a Skipjack model file (no SKIPJACK magic in the first 8 bytes"
                    + (size < PREAMBLE_BYTES ? "; the file is only " + size + " bytes" : "") + ")");
        }
        var le = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        int container = file.get(le, 8);
        if (container != CONTAINER_VERSION) {
            throw new ModelFormatException(path + ": container version " + Integer.toUnsignedString(container)
                    + " is not supported (this Skipjack reads version " + CONTAINER_VERSION + ")");
        }
        long headerLen = Integer.toUnsignedLong(file.get(le, 12));
        long maxHeader = Math.min(limits.maxHeaderBytes(), MAX_HEADER_BYTES);
        if (headerLen > maxHeader) {
            throw new ModelFormatException(path + ": header length " + headerLen + " is over the limit of "
                    + maxHeader + " bytes (" + ReadLimits.HEADER_BYTES_PROPERTY + "); the file is corrupt or hostile");
        }
        if (PREAMBLE_BYTES + headerLen > size) {
            throw new ModelFormatException(path + ": header length " + headerLen + " does not fit in the file of "
                    + size + " bytes; the file is truncated or corrupt");
        }
        ModelHeader header;
        try {
            header = ModelHeader.parseFrom(file.asSlice(PREAMBLE_BYTES, headerLen).asByteBuffer());
        } catch (InvalidProtocolBufferException e) {
            throw new ModelFormatException(path + ": header is not a valid ModelHeader message: " + e.getMessage(), e);
        }
        if (header.getFormatVersion() != FORMAT_VERSION) {
            throw new ModelFormatException(path + ": format version " + header.getFormatVersion()
                    + " is not supported (this Skipjack reads version " + FORMAT_VERSION + ")");
        }
        if (header.getTensorsCount() > limits.maxTensors()) {
            throw new ModelFormatException(path + ": the header declares " + header.getTensorsCount()
                    + " tensors, over the limit of " + limits.maxTensors() + " (" + ReadLimits.TENSORS_PROPERTY + ")");
        }
        long dataStart = PREAMBLE_BYTES + headerLen;
        var map = new LinkedHashMap<String, Tensor>();
        var ranges = new ArrayList<long[]>();
        for (TensorInfo info : header.getTensorsList()) {
            String name = info.getName();
            String where = path + ": tensor " + name;
            if (name.isEmpty()) {
                throw new ModelFormatException(path + ": a tensor has an empty name");
            }
            if (map.containsKey(name)) {
                throw new ModelFormatException(where + " appears twice");
            }
            DType dtype = info.getDtype();
            if (dtype != DType.FLOAT32 && dtype != DType.INT64) {
                throw new ModelFormatException(where + ": unsupported dtype " + dtype);
            }
            long[] shape = info.getShapeList().stream().mapToLong(Long::longValue).toArray();
            long count;
            try {
                count = Shapes.elementCount(shape);
                Math.multiplyExact(count, Shapes.elementSize(dtype));
            } catch (ArithmeticException | IllegalArgumentException e) {
                throw new ModelFormatException(where + ": invalid shape " + Arrays.toString(shape));
            }
            long bytes = count * Shapes.elementSize(dtype);
            if (info.getByteLength() != bytes) {
                throw new ModelFormatException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                        + bytes + " bytes but the header says " + info.getByteLength());
            }
            if (bytes > limits.maxTensorBytes()) {
                throw new ModelFormatException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " is "
                        + bytes + " bytes, over the limit of " + limits.maxTensorBytes() + " ("
                        + ReadLimits.TENSOR_BYTES_PROPERTY + ")");
            }
            long off = info.getOffset();
            if (off < dataStart || off % ALIGNMENT != 0 || off > size || bytes > size - off) {
                throw new ModelFormatException(where + ": data at offset " + Long.toUnsignedString(off) + " length "
                        + bytes + " does not lie " + ALIGNMENT + "-byte aligned inside the data section [" + dataStart
                        + ", " + size + "); the file is truncated or corrupt");
            }
            ranges.add(new long[] {off, off + bytes});
            map.put(name, new Tensor(name, dtype, shape, file.asSlice(off, bytes), info.getCrc32(),
                    info.getSourceDtype()));
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int i = 1; i < ranges.size(); i++) {
            if (ranges.get(i)[0] < ranges.get(i - 1)[1]) {
                throw new ModelFormatException(path + ": tensor data ranges overlap at offset " + ranges.get(i)[0]);
            }
        }
        return new ModelFile(path, header, Collections.unmodifiableMap(map));
    }

    public Path path() {
        return path;
    }

    public ModelHeader header() {
        return header;
    }

    public Architecture architecture() {
        return header.getArchitecture();
    }

    public Metadata metadata() {
        return header.getMetadata();
    }

    /** All tensors in file order. */
    public List<Tensor> tensors() {
        return List.copyOf(tensors.values());
    }

    /** The tensor of that name, or a {@link ModelFormatException} naming the file and the tensor. */
    public Tensor tensor(String name) throws ModelFormatException {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new ModelFormatException(path + ": missing tensor " + name);
        }
        return t;
    }

    public boolean hasTensor(String name) {
        return tensors.containsKey(name);
    }

    /**
     * Recomputes every tensor's CRC-32 and compares it with the header's: a flipped bit in the weights is
     * otherwise invisible (every offset and shape still checks out) and would give silently wrong numbers.
     */
    public void verifyChecksums() throws ModelFormatException {
        for (Tensor t : tensors.values()) {
            if (!t.checksumMatches()) {
                throw new ModelFormatException(path + ": tensor " + t.name() + ": its " + t.data().byteSize()
                        + " bytes do not match the CRC-32 " + Integer.toHexString(t.crc32())
                        + " of the header; the file is corrupt");
            }
        }
    }

    /** Rounds up to {@link #ALIGNMENT}. */
    public static long align(long offset) {
        return (offset + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }
}
