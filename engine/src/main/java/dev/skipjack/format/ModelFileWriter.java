package dev.skipjack.format;

import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.Metadata;
import dev.skipjack.format.proto.ModelHeader;
import dev.skipjack.format.proto.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.zip.CRC32;

/**
 * Writes a Skipjack model file (layout in {@code src/proto/skipjack_model.proto}). The file is written to a
 * temporary sibling and renamed into place, so a failure never leaves a half-written model behind.
 */
public final class ModelFileWriter {
    /** Callback for progress on long writes: bytes of tensor data written so far, and the total. */
    public interface Progress {
        void update(long done, long total);
    }

    private ModelFileWriter() {}

    public static void write(Path out, Architecture architecture, Metadata metadata, List<TensorData> tensors)
            throws IOException {
        write(out, architecture, metadata, tensors, (d, t) -> {});
    }

    public static void write(Path out, Architecture architecture, Metadata metadata, List<TensorData> tensors,
            Progress progress) throws IOException {
        var names = new HashSet<String>();
        for (TensorData t : tensors) {
            if (!names.add(t.name())) {
                throw new IllegalArgumentException("duplicate tensor name " + t.name());
            }
        }
        // Offsets depend on the header's length, which depends (through varints) on the offsets:
        // lay out with a guess and repeat until the header length is stable (two rounds in practice).
        int[] crcs = new int[tensors.size()];
        for (int i = 0; i < crcs.length; i++) {
            crcs[i] = crc32(tensors.get(i));
        }
        long dataStart = ModelFile.align(ModelFile.PREAMBLE_BYTES);
        ModelHeader header;
        while (true) {
            header = buildHeader(architecture, metadata, tensors, crcs, dataStart);
            long needed = ModelFile.align(ModelFile.PREAMBLE_BYTES + header.getSerializedSize());
            if (needed == dataStart) {
                break;
            }
            dataStart = needed;
        }
        long total = 0;
        for (TensorData t : tensors) {
            total += t.data().byteSize();
        }

        Path dir = out.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + out.getFileName() + ".", ".partial");
        boolean done = false;
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] headerBytes = header.toByteArray();
            ByteBuffer pre = ByteBuffer.allocate((int) dataStart).order(ByteOrder.LITTLE_ENDIAN);
            pre.put(ModelFile.MAGIC).putInt(ModelFile.CONTAINER_VERSION).putInt(headerBytes.length).put(headerBytes);
            pre.clear();
            writeFully(ch, pre);
            long written = 0;
            for (int i = 0; i < tensors.size(); i++) {
                TensorData t = tensors.get(i);
                TensorInfo info = header.getTensors(i);
                long pos = ch.position();
                if (pos < info.getOffset()) {
                    writeFully(ch, ByteBuffer.allocate((int) (info.getOffset() - pos)));
                }
                // Copy in chunks so that a huge tensor never needs one huge heap buffer.
                long size = t.data().byteSize();
                for (long off = 0; off < size; off += CHUNK) {
                    long n = Math.min(CHUNK, size - off);
                    writeFully(ch, t.data().asSlice(off, n).asByteBuffer());
                    written += n;
                    progress.update(written, total);
                }
            }
            ch.force(false);
            done = true;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
        try {
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }

    private static final long CHUNK = 8 << 20;

    private static ModelHeader buildHeader(Architecture architecture, Metadata metadata, List<TensorData> tensors,
            int[] crcs, long dataStart) {
        var infos = new ArrayList<TensorInfo>(tensors.size());
        long offset = dataStart;
        for (int i = 0; i < tensors.size(); i++) {
            TensorData t = tensors.get(i);
            var b = TensorInfo.newBuilder()
                    .setName(t.name())
                    .setDtype(t.dtype())
                    .setOffset(offset)
                    .setByteLength(t.data().byteSize())
                    .setCrc32(crcs[i])
                    .setSourceDtype(t.sourceDType());
            for (long d : t.shape()) {
                b.addShape(d);
            }
            infos.add(b.build());
            offset = ModelFile.align(offset + t.data().byteSize());
        }
        return ModelHeader.newBuilder()
                .setFormatVersion(ModelFile.FORMAT_VERSION)
                .setArchitecture(architecture)
                .setMetadata(metadata)
                .addAllTensors(infos)
                .build();
    }

    static int crc32(TensorData t) {
        var crc = new CRC32();
        long size = t.data().byteSize();
        for (long off = 0; off < size; off += CHUNK) {
            crc.update(t.data().asSlice(off, Math.min(CHUNK, size - off)).asByteBuffer());
        }
        return (int) crc.getValue();
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
