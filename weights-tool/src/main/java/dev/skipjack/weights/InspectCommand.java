package dev.skipjack.weights;

import dev.skipjack.format.ModelFile;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.DType;
import dev.skipjack.format.proto.Metadata;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code ./skipjack inspect FILE [--verify]}: lists the tensors (name, dtype, shape, CRC-32) of a Skipjack model
 * file or of a PyTorch checkpoint, told apart by the model file's SKIPJACK magic. For a checkpoint the CRC-32 is
 * that of the float32 / int64 little-endian bytes a conversion would write, so the two listings compare line
 * for line.
 */
public final class InspectCommand {
    private static final String USAGE = """
            usage: ./skipjack inspect FILE [--verify]

            Lists the tensors of a Skipjack model file or of a PyTorch checkpoint: name, dtype (the
            checkpoint's dtype in parentheses when it was converted), shape and the CRC-32 of the float32 /
            int64 little-endian bytes (for a checkpoint: of the bytes a conversion would write).

              --verify    model files: recompute every tensor's CRC-32 and fail on a mismatch
              -h, --help  this text
            """;

    private InspectCommand() {}

    /** The subcommand, as registered with the dispatcher. */
    public static int run(String[] args) throws Exception {
        return run(args, System.out);
    }

    static int run(String[] args, PrintStream out) throws IOException {
        Path file = null;
        boolean verify = false;
        for (String a : args) {
            switch (a) {
                case "-h", "--help" -> {
                    out.print(USAGE);
                    return 0;
                }
                case "--verify" -> verify = true;
                default -> {
                    if (a.startsWith("-") && a.length() > 1) {
                        throw new IllegalArgumentException("unknown option " + a + " (see ./skipjack inspect --help)");
                    }
                    if (file != null) {
                        throw new IllegalArgumentException("more than one file given (" + file + ", " + a + ")");
                    }
                    file = Path.of(a);
                }
            }
        }
        if (file == null) {
            throw new IllegalArgumentException("missing FILE; usage: ./skipjack inspect FILE [--verify]");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mapped = CheckpointReader.map(file, arena);
            if (ModelFile.hasMagic(mapped)) {
                return inspectModel(ModelFile.parse(file, mapped), verify, out);
            }
            return inspectCheckpoint(file, mapped, arena, out);
        }
    }

    private static int inspectModel(ModelFile model, boolean verify, PrintStream out) throws IOException {
        var a = model.architecture();
        var spec = new ResNetSpec(a.getName(), a.getBlock(), a.getStageBlocksList().stream().mapToInt(i -> i).toArray(),
                a.getGroups(), a.getWidthPerGroup(), a.getNumClasses());
        Metadata m = model.metadata();
        out.println("model file " + model.path() + ": " + spec.describe());
        out.println("converted from " + m.getSourceFile() + " (sha256 " + m.getSourceSha256() + ") by "
                + m.getConverterVersion() + "; " + (m.getLabelsCount() == 0 ? "no labels"
                        : m.getLabelsCount() + " labels"));
        var rows = new ArrayList<String[]>();
        int bad = 0;
        long parameters = 0;
        for (ModelFile.Tensor t : model.tensors()) {
            String dtype = t.dtype().name().toLowerCase(Locale.ROOT);
            String source = t.sourceDType();
            if (!source.isEmpty() && !source.equals(dtype.equals("float32") ? "float32" : "int64")) {
                dtype += " (" + source + ")";
            }
            String crc = String.format("%08x", t.crc32());
            if (verify) {
                boolean ok = t.checksumMatches();
                crc += ok ? " ok" : " MISMATCH";
                bad += ok ? 0 : 1;
            }
            parameters += t.dtype() == DType.FLOAT32 ? t.elementCount() : 0;
            rows.add(new String[] {t.name(), dtype, Arrays.toString(t.shape()), crc});
        }
        table(rows, out);
        out.printf(Locale.ROOT, "%d tensors, %.2fM parameters%s%n", rows.size(), parameters / 1e6,
                verify ? (bad == 0 ? ", all checksums verified" : ", " + bad + " CHECKSUM MISMATCHES") : "");
        if (bad > 0) {
            throw new IOException(model.path() + ": " + bad + " tensors do not match their CRC-32; the file is corrupt");
        }
        return 0;
    }

    private static int inspectCheckpoint(Path file, MemorySegment mapped, Arena arena, PrintStream out)
            throws IOException {
        String name = file.getFileName().toString();
        Limits limits = Limits.defaults();
        LoadedCheckpoint ck = CheckpointReader.read(name, mapped, arena, limits);
        StateDict sd = StateDict.locate(ck, limits);
        out.println("checkpoint " + file + ": " + ck.format() + " format, state_dict in " + sd.source() + ", "
                + sd.tensors().size() + " tensors");
        String arch;
        try {
            ResNetSpec spec = ArchitectureDetector.detect(name, sd.shapes());
            spec.validate(name, sd.tensors());
            arch = spec.describe();
        } catch (CheckpointException e) {
            arch = "not a valid torchvision ResNet: " + e.getMessage();
        }
        out.println("architecture: " + arch);
        var rows = new ArrayList<String[]>();
        long parameters = 0;
        for (Map.Entry<String, TensorRef> e : sd.tensors().entrySet()) {
            TensorRef ref = e.getValue();
            String crc;
            long elements;
            // Inspect does not validate shapes against an architecture, so each gathered copy is dropped at once.
            try (Arena scratch = Arena.ofConfined()) {
                TensorData t = TensorAssembler.assemble(ck, e.getKey(), ref, scratch, limits.maxTensorBytes());
                crc = String.format("%08x", ZipArchive.crc32(t.data()));
                elements = t.data().byteSize() / (t.dtype() == DType.FLOAT32 ? 4 : 8);
            }
            String target = TensorAssembler.targetType(ref.storage().type()).name().toLowerCase(Locale.ROOT);
            String dtype = ref.storage().type().dtypeName.equals(target) ? target
                    : target + " (" + ref.storage().type().dtypeName + ")";
            parameters += ref.storage().type().floatingPoint ? elements : 0;
            rows.add(new String[] {e.getKey(), dtype, Arrays.toString(ref.shape()), crc});
        }
        table(rows, out);
        out.printf(Locale.ROOT, "%d tensors, %.2fM parameters%n", rows.size(), parameters / 1e6);
        return 0;
    }

    private static void table(List<String[]> rows, PrintStream out) {
        int[] width = {4, 5, 5};
        for (String[] r : rows) {
            for (int i = 0; i < width.length; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        String format = "%-" + width[0] + "s  %-" + width[1] + "s  %-" + width[2] + "s  %s%n";
        out.printf(format, "name", "dtype", "shape", "crc32");
        for (String[] r : rows) {
            out.printf(format, (Object[]) r);
        }
    }
}
