package dev.skipjack.engine.testing;

import dev.skipjack.format.ModelFileWriter;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import dev.skipjack.format.proto.DType;
import dev.skipjack.format.proto.Metadata;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Builds Skipjack model files from the fixtures without the converter, so engine tests do not depend on
 * weights-tool. A fixture's checkpoint.pt is a zip whose {@code data/N} entries are the raw little-endian
 * storages; tensors.json gives each state_dict tensor's name, shape and the SHA-256 of its contiguous bytes.
 * A torchvision model's state_dict gives every tensor its own contiguous storage, so matching digests finds
 * each tensor's bytes without unpickling anything (a tensor whose digest matches no storage fails the build).
 * Files are written once per run under target/fixture-models.
 */
public final class FixtureModels {
    private FixtureModels() {}

    private static final Map<String, Path> BUILT = new HashMap<>();

    /** The model file for fixture {@code model} (e.g. "resnet50"), built on first use. */
    public static synchronized Path modelFile(String model) throws IOException {
        Path cached = BUILT.get(model);
        if (cached != null) {
            return cached;
        }
        Path dir = Fixtures.dir().resolve(model);
        if (!Files.isDirectory(dir)) {
            throw new AssertionError("fixture model missing: " + dir);
        }
        Path out = Path.of("target", "fixture-models", model + ".skj").toAbsolutePath();
        ModelFileWriter.write(out, architecture(dir), Metadata.getDefaultInstance(), tensors(dir));
        BUILT.put(model, out);
        return out;
    }

    /** The architecture from info.json. */
    public static Architecture architecture(Path dir) throws IOException {
        var info = Json.object(Json.parse(Files.readString(dir.resolve("info.json"))));
        var b = Architecture.newBuilder()
                .setName((String) info.get("arch"))
                .setBlock(BlockType.valueOf((String) info.get("block")))
                .setGroups(((Number) info.get("groups")).intValue())
                .setWidthPerGroup(((Number) info.get("width_per_group")).intValue())
                .setNumClasses(((Number) info.get("num_classes")).intValue());
        for (Object s : Json.array(info.get("stage_blocks"))) {
            b.addStageBlocks(((Number) s).intValue());
        }
        return b.build();
    }

    private static List<TensorData> tensors(Path dir) throws IOException {
        Map<String, byte[]> byDigest = new HashMap<>();
        try (var zip = new ZipFile(dir.resolve("checkpoint.pt").toFile())) {
            for (var it = zip.entries().asIterator(); it.hasNext(); ) {
                ZipEntry e = it.next();
                if (e.getName().contains("/data/") && !e.isDirectory()) {
                    try (InputStream in = zip.getInputStream(e)) {
                        byte[] bytes = in.readAllBytes();
                        byDigest.put(sha256(bytes), bytes);
                    }
                }
            }
        }
        var list = new ArrayList<TensorData>();
        for (Object o : Json.array(Json.parse(Files.readString(dir.resolve("tensors.json"))))) {
            var t = Json.object(o);
            String name = (String) t.get("name");
            long[] shape = Json.array(t.get("shape")).stream().mapToLong(x -> ((Number) x).longValue()).toArray();
            byte[] bytes = byDigest.get((String) t.get("sha256"));
            if (bytes == null) {
                throw new AssertionError(dir + ": no storage in checkpoint.pt has the bytes of tensor " + name);
            }
            DType dtype = switch ((String) t.get("dtype")) {
                case "float32" -> DType.FLOAT32;
                case "int64" -> DType.INT64;
                default -> throw new AssertionError(dir + ": tensor " + name + " has dtype " + t.get("dtype"));
            };
            list.add(new TensorData(name, dtype, shape, MemorySegment.ofArray(bytes), (String) t.get("dtype")));
        }
        return list;
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
