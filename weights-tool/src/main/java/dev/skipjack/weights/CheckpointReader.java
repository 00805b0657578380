package dev.skipjack.weights;

import dev.skipjack.format.ModelFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Maps a {@code torch.save} file and reads its container, whichever of the two it is: the zip archive of
 * PyTorch 1.6 and later, or the legacy stream of pickles before it. The mapping and anything inflated live in
 * the caller's arena, and so do the slices of them that {@link LoadedCheckpoint} hands out.
 */
final class CheckpointReader {
    private CheckpointReader() {}

    /** Maps {@code path} read-only into {@code arena}; a clear error if it is missing or not a regular file. */
    static MemorySegment map(Path path, Arena arena) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such file");
        }
        if (!Files.isRegularFile(path)) {
            throw new CheckpointException(path + ": not a regular file");
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
    }

    static LoadedCheckpoint read(Path path, Arena arena, Limits limits) throws IOException {
        String name = path.getFileName().toString();
        return read(name, map(path, arena), arena, limits);
    }

    /** Reads an already mapped (or in-memory) checkpoint; {@code name} is used in messages. */
    static LoadedCheckpoint read(String name, MemorySegment file, Arena arena, Limits limits)
            throws CheckpointException {
        if (file.byteSize() == 0) {
            throw new CheckpointException(name + ": the file is empty");
        }
        if (ModelFile.hasMagic(file)) {
            throw new CheckpointException(name + ": this is a Skipjack model file already, not a PyTorch checkpoint");
        }
        if (ZipArchive.looksLikeZip(file)) {
            return ZipCheckpointReader.read(name, file, arena, limits);
        }
        if (LegacyCheckpointReader.looksLikeLegacy(file)) {
            return LegacyCheckpointReader.read(name, file, limits);
        }
        if (looksLikeTar(file)) {
            throw new CheckpointException(name + ": a tar-based checkpoint (PyTorch 0.3 and older) is not supported; "
                    + "load and re-save it with a newer PyTorch");
        }
        throw new CheckpointException(name + ": not a PyTorch checkpoint (neither a zip archive as torch.save "
                + "writes since 1.6 nor a legacy pickle stream; the file starts with " + firstBytes(file) + ")");
    }

    private static boolean looksLikeTar(MemorySegment file) {
        if (file.byteSize() < 262) {
            return false;
        }
        byte[] magic = file.asSlice(257, 5).toArray(ValueLayout.JAVA_BYTE);
        return new String(magic, java.nio.charset.StandardCharsets.US_ASCII).equals("ustar");
    }

    private static String firstBytes(MemorySegment file) {
        var b = new StringBuilder();
        for (int i = 0; i < Math.min(8, file.byteSize()); i++) {
            b.append(String.format("%02x", file.get(ValueLayout.JAVA_BYTE, i)));
            b.append(i < Math.min(8, file.byteSize()) - 1 ? " " : "");
        }
        return b.toString();
    }
}
