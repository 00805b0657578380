package dev.skipjack.weights;

import dev.skipjack.format.ModelFileWriter;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.DType;
import dev.skipjack.format.proto.Metadata;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Converts a PyTorch checkpoint into a Skipjack model file (the flow is in the package comment). Every check
 * (container, pickle, architecture, every tensor's shape and bounds, the labels) runs before the output is
 * opened; the writer then writes a temporary file and renames it, so a failure never leaves an output behind.
 */
public final class Converter {
    private Converter() {}

    /**
     * How to convert.
     *
     * @param arch     a torchvision name to force ("resnet50"), or null to detect
     * @param labels   class labels (exactly num_classes), or null for none
     * @param progress told about the write, in bytes of tensor data
     */
    public record Options(String arch, List<String> labels, Limits limits, ModelFileWriter.Progress progress) {
        public Options {
            labels = labels == null ? null : List.copyOf(labels);
            Objects.requireNonNull(limits, "limits");
            progress = progress == null ? (done, total) -> {} : progress;
        }

        public static Options defaults() {
            return new Options(null, null, Limits.defaults(), null);
        }

        public Options withArch(String a) {
            return new Options(a, labels, limits, progress);
        }

        public Options withLabels(List<String> l) {
            return new Options(arch, l, limits, progress);
        }

        public Options withLimits(Limits l) {
            return new Options(arch, labels, l, progress);
        }

        public Options withProgress(ModelFileWriter.Progress p) {
            return new Options(arch, labels, limits, p);
        }
    }

    /**
     * What a conversion wrote.
     *
     * @param spec         the architecture, detected or forced
     * @param format       "zip" or "legacy"
     * @param tensors      tensors written
     * @param parameters   float32 elements written (batch norm statistics included)
     * @param dataBytes    bytes of tensor data written
     * @param sourceSha256 of the checkpoint file, as recorded in the model's metadata
     */
    public record Result(ResNetSpec spec, String format, int tensors, long parameters, long dataBytes,
            String sourceSha256) {}

    /**
     * Converts {@code checkpoint} into the model file {@code output} (replaced atomically if it exists).
     *
     * @throws CheckpointException the checkpoint is malformed, hostile, or not the expected network; the message
     *         names the file and the tensor, with expected and actual shapes; nothing was written
     * @throws IOException         the checkpoint cannot be read or the output cannot be written
     */
    public static Result convert(Path checkpoint, Path output, Options options) throws IOException {
        if (Files.isDirectory(output)) {
            throw new CheckpointException(output + ": is a directory; give the model file's path");
        }
        if (Files.exists(output) && Files.exists(checkpoint) && Files.isSameFile(checkpoint, output)) {
            throw new CheckpointException(output + ": the output would overwrite the checkpoint");
        }
        // Shared: the digest runs on another thread (below); it is stopped before the arena closes.
        try (Arena arena = Arena.ofShared()) {
            MemorySegment file = CheckpointReader.map(checkpoint, arena);
            // The digest of a big file takes about as long as the rest of the conversion: run it on another core.
            var cancel = new AtomicBoolean();
            CompletableFuture<String> sha256 = CompletableFuture.supplyAsync(() -> sha256(file, cancel));
            try {
                return convert(checkpoint, output, options, arena, file, sha256);
            } finally {
                cancel.set(true);
                sha256.handle((v, e) -> null).join();
            }
        }
    }

    private static Result convert(Path checkpoint, Path output, Options options, Arena arena, MemorySegment file,
            CompletableFuture<String> sha256) throws IOException {
        String name = checkpoint.getFileName().toString();
        LoadedCheckpoint ck = CheckpointReader.read(name, file, arena, options.limits());
        StateDict sd = StateDict.locate(ck, options.limits());

        ResNetSpec spec;
        if (options.arch() == null) {
            spec = ArchitectureDetector.detect(name, sd.shapes());
        } else {
            long[] fc = sd.tensors().containsKey("fc.weight") ? sd.tensors().get("fc.weight").shape() : null;
            int classes = fc != null && fc.length == 2 && fc[0] > 0 && fc[0] <= Integer.MAX_VALUE ? (int) fc[0]
                    : 1000;
            spec = ResNetSpec.named(options.arch(), classes);
        }
        spec.validate(name, sd.tensors());
        if (options.labels() != null && options.labels().size() != spec.numClasses()) {
            throw new CheckpointException("the labels name " + options.labels().size() + " classes but " + name
                    + " has " + spec.numClasses() + " (rows of fc.weight)");
        }

        var tensors = new ArrayList<TensorData>();
        long parameters = 0;
        long bytes = 0;
        for (String tensorName : spec.expectedTensors().keySet()) {
            TensorRef ref = sd.tensors().get(tensorName);
            if (ref != null) {
                TensorData t = TensorAssembler.assemble(ck, tensorName, ref, arena,
                        options.limits().maxTensorBytes());
                tensors.add(t);
                parameters += t.dtype() == DType.FLOAT32 ? t.data().byteSize() / 4 : 0;
                bytes += t.data().byteSize();
            }
        }

        String digest = join(sha256);
        var meta = Metadata.newBuilder()
                .setSourceFile(name)
                .setSourceSha256(digest)
                .setConverterVersion(Version.CONVERTER);
        if (options.labels() != null) {
            meta.addAllLabels(options.labels());
        }
        ModelFileWriter.write(output, spec.toArchitecture(), meta.build(), tensors, options.progress());
        return new Result(spec, ck.format(), tensors.size(), parameters, bytes, digest);
    }

    private static String join(CompletableFuture<String> f) throws IOException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while hashing the checkpoint", e);
        } catch (ExecutionException e) {
            throw new IOException("could not hash the checkpoint: " + e.getCause(), e.getCause());
        }
    }

    /** Lowercase hex SHA-256 of the segment's bytes, or null once {@code cancel} is set. */
    static String sha256(MemorySegment data, AtomicBoolean cancel) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
        long size = data.byteSize();
        byte[] chunk = new byte[1 << 20];
        for (long off = 0; off < size; off += chunk.length) {
            if (cancel.get()) {
                return null;
            }
            int n = (int) Math.min(chunk.length, size - off);
            MemorySegment.copy(data, java.lang.foreign.ValueLayout.JAVA_BYTE, off, chunk, 0, n);
            md.update(chunk, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
