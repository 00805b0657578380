package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.skipjack.format.proto.BlockType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Hostile and broken inputs: each is refused with a message that says what is wrong, nothing is executed, and
 * no output file (nor a temporary one) is left behind.
 */
class RefusalTest {
    /** BasicBlock [1, 1, 1, 1], 10 classes: the shape of the fixtures' tiny_basic. */
    private static final ResNetSpec TINY = new ResNetSpec(ResNetSpec.CUSTOM, BlockType.BASIC, new int[] {1, 1, 1, 1},
            1, 64, 10);

    @TempDir
    Path tmp;
    private Path marker;

    @BeforeEach
    void setUp() {
        marker = tmp.resolve("pwned");
    }

    private Path checkpoint(byte[] bytes) throws IOException {
        return Files.write(tmp.resolve("checkpoint.pt"), bytes);
    }

    /** A torch zip checkpoint whose data.pkl is {@code pickle} (no storages). */
    private Path zipWithPickle(byte[] pickle) throws IOException {
        return checkpoint(TestZip.build(TestZip.torchEntries("archive", pickle, List.of(), false), false));
    }

    @Test
    void osSystemIsRefusedAndNothingRuns() throws IOException {
        byte[] pickle = new PickleWriter().proto(2).global("os", "system").mark().str("touch " + marker).tuple()
                .reduce().stop().bytes();
        ConvertAssertions.assertFailsCleanly(zipWithPickle(pickle), "checkpoint.pt", "data.pkl",
                "refusing global os.system");
        assertFalse(Files.exists(marker), "the pickle's command ran");
    }

    /** The usual spellings of "run something" and of "load something that is not a tensor". */
    @ParameterizedTest
    @CsvSource({
        "builtins, eval", "builtins, exec", "builtins, getattr", "__builtin__, eval", "posix, system",
        "subprocess, Popen", "subprocess, check_output", "torch.storage, _load_from_bytes", "torch, load",
        "torch.serialization, load", "numpy.core.multiarray, _reconstruct", "collections, defaultdict",
        "torchvision.models.resnet, ResNet", "torch.nn.modules.conv, Conv2d", "__main__, Net", "copyreg, _reconstructor",
        "pickle, loads", "runpy, run_path"
    })
    void otherGlobalsAreRefusedByName(String module, String name) throws IOException {
        // Inside an otherwise valid state_dict: an entry whose value is REDUCE(global, ()).
        var w = new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().reduce().mark();
        w.str("conv1.weight").global(module, name).mark().str("touch " + marker).tuple().reduce();
        byte[] pickle = w.setItems().stop().bytes();
        ConvertAssertions.assertFailsCleanly(zipWithPickle(pickle), "refusing global " + module + "." + name);
        assertFalse(Files.exists(marker));
    }

    @Test
    void stackGlobalOfProtocol4IsRefused() throws IOException {
        byte[] pickle = new PickleWriter().proto(4).shortStr("os").shortStr("system").op(0x93).shortStr("id")
                .op(0x85).reduce().stop().bytes();
        ConvertAssertions.assertFailsCleanly(zipWithPickle(pickle), "refusing global os.system");
    }

    @Test
    void instOpcodeIsRefused() throws IOException {
        byte[] pickle = new PickleWriter().proto(2).mark().str("id").op('i')
                .raw("os\nsystem\n".getBytes(StandardCharsets.US_ASCII)).stop().bytes();
        ConvertAssertions.assertFailsCleanly(zipWithPickle(pickle), "refusing global os.system");
    }

    @Test
    void refusedInTheLegacyFormatToo() throws IOException {
        byte[] evil = new PickleWriter().proto(2).global("os", "system").mark().str("touch " + marker).tuple()
                .reduce().stop().bytes();
        var c = SyntheticCheckpoint.of(TINY);
        ConvertAssertions.assertFailsCleanly(checkpoint(c.legacy(evil)), "legacy object pickle",
                "refusing global os.system");
        assertFalse(Files.exists(marker));
    }

    @Test
    void truncatedZipIsRefused() throws IOException {
        byte[] whole = SyntheticCheckpoint.of(TINY).zip();
        for (int keep : new int[] {whole.length - 1, whole.length / 2, 100, 4}) {
            ConvertAssertions.assertFailsCleanly(checkpoint(Arrays.copyOf(whole, keep)), "checkpoint.pt",
                    "the file is truncated or not a zip archive");
        }
    }

    @Test
    void truncatedFixtureIsRefused() throws IOException {
        byte[] whole = Files.readAllBytes(Fixtures.path("tiny_basic/checkpoint.pt"));
        ConvertAssertions.assertFailsCleanly(checkpoint(Arrays.copyOf(whole, whole.length * 2 / 3)),
                "the file is truncated");
    }

    @Test
    void truncatedLegacyIsRefused() throws IOException {
        byte[] whole = Files.readAllBytes(Fixtures.path("formats/legacy.pt"));
        ConvertAssertions.assertFailsCleanly(checkpoint(Arrays.copyOf(whole, whole.length - 1000)),
                "the file is truncated: storage", "needs", "but the file ends at " + (whole.length - 1000));
        ConvertAssertions.assertFailsCleanly(checkpoint(Arrays.copyOf(whole, 300)), "the pickle is truncated");
    }

    @ParameterizedTest
    @ValueSource(strings = {"hello, world\n", "PK but not really", "\u0080\u0002not a pickle"})
    void nonCheckpointIsRefused(String content) throws IOException {
        ConvertAssertions.assertFailsCleanly(checkpoint(content.getBytes(StandardCharsets.ISO_8859_1)),
                "checkpoint.pt: not a PyTorch checkpoint");
    }

    @Test
    void imageIsNotACheckpoint() throws IOException {
        ConvertAssertions.assertFailsCleanly(Fixtures.path("image/test.png"),
                "test.png: not a PyTorch checkpoint (neither a zip archive", "89 50 4e 47");
    }

    @Test
    void emptyAndMissingFiles() throws IOException {
        ConvertAssertions.assertFailsCleanly(checkpoint(new byte[0]), "checkpoint.pt: the file is empty");
        ConvertAssertions.assertFailsCleanly(tmp.resolve("nope.pt"), "nope.pt");
    }

    @Test
    void otherZipIsNotACheckpoint() throws IOException {
        byte[] zip = TestZip.build(List.of(TestZip.Entry.stored("readme.txt", "hi".getBytes(StandardCharsets.UTF_8))),
                false);
        ConvertAssertions.assertFailsCleanly(checkpoint(zip), "a zip archive but not a torch.save checkpoint",
                "no <prefix>/data.pkl");
        byte[] script = TestZip.build(List.of(TestZip.Entry.stored("m/data.pkl", new byte[] {'N', '.'}),
                TestZip.Entry.stored("m/constants.pkl", new byte[] {'N', '.'})), false);
        ConvertAssertions.assertFailsCleanly(checkpoint(script), "TorchScript archive");
    }

    @Test
    void missingTensorIsNamedWithItsShape() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        c.tensors.remove("layer2.0.bn1.running_var");
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "checkpoint.pt"),
                "checkpoint.pt: missing tensor layer2.0.bn1.running_var (expected shape [128])");
    }

    @Test
    void wrongShapeIsNamedWithBothShapes() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        c.tensors.put("layer3.0.conv1.weight", new SyntheticCheckpoint.View(0, 0, new long[] {256, 128, 1, 1},
                SyntheticCheckpoint.contiguous(new long[] {256, 128, 1, 1})));
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "checkpoint.pt"),
                "tensor layer3.0.conv1.weight has shape [256, 128, 1, 1], expected [256, 128, 3, 3]");

        c = SyntheticCheckpoint.of(TINY);
        c.tensors.put("fc.bias", new SyntheticCheckpoint.View(0, 0, new long[] {11}, new long[] {1}));
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "checkpoint.pt"),
                "tensor fc.bias has shape [11], expected [10]");
    }

    @Test
    void unexpectedTensorIsNamed() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        c.tensors.put("layer5.0.conv1.weight", new SyntheticCheckpoint.View(0, 0, new long[] {8}, new long[] {1}));
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "checkpoint.pt"),
                "unexpected tensor layer5.0.conv1.weight with shape [8]");
    }

    @Test
    void severalProblemsAreCounted() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        c.tensors.remove("bn1.weight");
        c.tensors.remove("layer4.0.conv2.weight");
        c.tensors.put("extra", new SyntheticCheckpoint.View(0, 0, new long[] {1}, new long[] {1}));
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "checkpoint.pt"), "missing tensor bn1.weight",
                "(and 2 more problems)");
    }

    @Test
    void integerWeightsAreRefused() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        c.tensors.put("fc.bias", new SyntheticCheckpoint.View(1, 0, new long[] {1}, new long[] {1}));
        c.tensors.put("fc.bias", new SyntheticCheckpoint.View(1, 0, new long[] {10}, new long[] {0}));
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "checkpoint.pt"),
                "tensor fc.bias has dtype int64, expected a floating-point dtype");
    }

    @Test
    void viewOutsideItsStorageIsRefused() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        long storage = c.storages.getFirst().numel();
        c.tensors.put("fc.bias", new SyntheticCheckpoint.View(0, storage - 5, new long[] {10}, new long[] {1}));
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "checkpoint.pt"), "checkpoint.pt: tensor fc.bias",
                "reaches element " + (storage + 4) + " of a storage of only " + storage + " float32 elements");
        c.tensors.put("fc.bias", new SyntheticCheckpoint.View(0, 0, new long[] {10}, new long[] {storage}));
        ConvertAssertions.assertFailsCleanly(c.write(tmp, "checkpoint.pt"), "tensor fc.bias", "reaches element");
    }

    @Test
    void storageSmallerThanDeclaredIsRefused() throws IOException {
        var c = SyntheticCheckpoint.of(TINY);
        byte[] pickle = c.pickle(null, "");
        c.storages.set(1, new SyntheticCheckpoint.Storage("LongStorage", 8, new byte[4]));
        ConvertAssertions.assertFailsCleanly(Files.write(tmp.resolve("checkpoint.pt"), c.zip(pickle, false, false)),
                "entry archive/data/1 holds 4 bytes, but the pickle declares 1 x int64");
    }

    @Test
    void modelFileIsNotReconverted() throws IOException {
        Path model = tmp.resolve("tiny.skj");
        ConvertAssertions.convert(SyntheticCheckpoint.of(TINY).write(tmp, "checkpoint.pt"), model);
        ConvertAssertions.assertFailsCleanly(model, "tiny.skj: this is a Skipjack model file already");
    }

    @Test
    void outputMustNotBeTheCheckpointOrAFolder() throws IOException {
        Path ckpt = SyntheticCheckpoint.of(TINY).write(tmp, "checkpoint.pt");
        byte[] before = Files.readAllBytes(ckpt);
        var e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> ConvertAssertions.convert(ckpt, ckpt));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("would overwrite the checkpoint"));
        org.junit.jupiter.api.Assertions.assertArrayEquals(before, Files.readAllBytes(ckpt));
        e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> ConvertAssertions.convert(ckpt, tmp));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("is a directory"));
    }

    @Test
    void failedConversionKeepsAnExistingOutput() throws IOException {
        Path out = tmp.resolve("model.skj");
        Files.writeString(out, "previous");
        var c = SyntheticCheckpoint.of(TINY);
        c.tensors.remove("fc.bias");
        Path bad = c.write(tmp, "checkpoint.pt");
        org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> ConvertAssertions.convert(bad, out));
        org.junit.jupiter.api.Assertions.assertEquals("previous", Files.readString(out));
    }
}
