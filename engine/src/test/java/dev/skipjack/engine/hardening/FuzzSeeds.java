package dev.skipjack.engine.hardening;

import dev.skipjack.format.ModelFileWriter;
import dev.skipjack.format.TensorData;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.DType;
import dev.skipjack.format.proto.Metadata;
import dev.skipjack.format.proto.Preprocessing;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.CRC32;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;

/**
 * Writes the seed corpora of {@link ModelFileFuzzTest} and {@code image.ImageFuzzTest}: small model files (a
 * few KB: a valid header whose tensors are missing or misshapen, labels and preprocessing, an int64 counter)
 * and tiny images in every format and colour type. Inputs that once failed are added to the same folders by
 * hand ({@code regression-*}) and never regenerated. Run with the test classpath and {@code src/test/resources}
 * as the argument.
 */
public final class FuzzSeeds {
    private FuzzSeeds() {}

    public static void main(String[] args) throws IOException {
        Path resources = Path.of(args[0]);
        models(resources.resolve("dev/skipjack/engine/hardening/ModelFileFuzzTestInputs/parseAndLoad"));
        images(resources.resolve("dev/skipjack/engine/image/ImageFuzzTestInputs/decodeAndPreprocess"));
    }

    private static void models(Path dir) throws IOException {
        Files.createDirectories(dir);
        Architecture a = TinyModel.ARCH;
        var meta = Metadata.newBuilder().setSourceFile("seed.pt").setConverterVersion("seed")
                .addAllLabels(List.of("a", "b", "c"))
                .setPreprocessing(Preprocessing.newBuilder().setResizeShorter(40).setCrop(32)
                        .addAllMean(List.of(0.5f, 0.5f, 0.5f)).addAllStd(List.of(0.25f, 0.25f, 0.25f)))
                .build();
        ModelFileWriter.write(dir.resolve("seed-missing-tensors"), a, meta, List.of(
                floats("fc.bias", 3), floats("bn1.running_var", 64),
                new TensorData("bn1.num_batches_tracked", DType.INT64, new long[0],
                        MemorySegment.ofArray(new byte[8]), "int64")));
        ModelFileWriter.write(dir.resolve("seed-misshapen"), a, Metadata.getDefaultInstance(), List.of(
                floats("conv1.weight", 64, 3, 3, 1), floats("bn1.weight", 64), floats("bn1.bias", 64),
                floats("bn1.running_mean", 64), floats("bn1.running_var", 64)));
        ModelFileWriter.write(dir.resolve("seed-unknown-architecture"),
                a.toBuilder().clearStageBlocks().addAllStageBlocks(List.of(2, 0, 1, 1)).build(),
                Metadata.getDefaultInstance(), List.of(floats("fc.weight", 3, 4)));
    }

    private static TensorData floats(String name, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        var b = ByteBuffer.allocate((int) n * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            b.putFloat(i * 0.01f);
        }
        return TensorData.ofFloat(name, shape, MemorySegment.ofArray(b.array()));
    }

    private static void images(Path dir) throws IOException {
        Files.createDirectories(dir);
        write(dir, "seed-rgb.png", encode(image(7, 5, BufferedImage.TYPE_3BYTE_BGR), "png"));
        write(dir, "seed-gray16.png", encode(image(5, 6, BufferedImage.TYPE_USHORT_GRAY), "png"));
        write(dir, "seed-argb.png", encode(image(4, 3, BufferedImage.TYPE_INT_ARGB), "png"));
        write(dir, "seed-indexed.png", encode(image(6, 4, BufferedImage.TYPE_BYTE_INDEXED), "png"));
        write(dir, "seed-baseline.jpg", encode(image(9, 7, BufferedImage.TYPE_3BYTE_BGR), "jpg"));
        write(dir, "seed-gray.jpg", encode(image(8, 8, BufferedImage.TYPE_BYTE_GRAY), "jpg"));
        write(dir, "seed-progressive.jpg", progressiveJpeg(image(17, 9, BufferedImage.TYPE_3BYTE_BGR)));
        write(dir, "seed-rgb.bmp", encode(image(5, 3, BufferedImage.TYPE_3BYTE_BGR), "bmp"));
        write(dir, "seed-indexed.gif", encode(image(6, 4, BufferedImage.TYPE_BYTE_INDEXED), "gif"));
        // A decompression bomb, kept as a regression case: a 219-byte PNG whose header declares 20000 x 20000
        // pixels. Before the header check, ImageIO allocated 1.2 GB for it and commons-imaging threw
        // OutOfMemoryError at -Xmx1g.
        write(dir, "regression-decompression-bomb.png",
                withDimensions(encode(image(8, 8, BufferedImage.TYPE_3BYTE_BGR), "png"), 20_000, 20_000));
    }

    private static BufferedImage image(int w, int h, int type) {
        var img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, (x * 40 << 16) | (y * 50 << 8) | ((x + y) * 20) | (x % 2 == 0 ? 0xff000000 : 0x80000000));
            }
        }
        return img;
    }

    private static byte[] encode(BufferedImage img, String format) throws IOException {
        var out = new ByteArrayOutputStream();
        if (!ImageIO.write(img, format, out)) {
            throw new IOException("no ImageIO writer for " + format);
        }
        return out.toByteArray();
    }

    private static byte[] progressiveJpeg(BufferedImage img) throws IOException {
        var writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        var out = new ByteArrayOutputStream();
        try (var ios = ImageIO.createImageOutputStream(out)) {
            writer.setOutput(ios);
            ImageWriteParam p = writer.getDefaultWriteParam();
            p.setProgressiveMode(ImageWriteParam.MODE_DEFAULT);
            writer.write(null, new IIOImage(img, null, null), p);
        } finally {
            writer.dispose();
        }
        return out.toByteArray();
    }

    /** The PNG with its IHDR width and height replaced (and the chunk's CRC fixed). */
    static byte[] withDimensions(byte[] png, int w, int h) {
        byte[] b = png.clone();
        ByteBuffer buf = ByteBuffer.wrap(b);
        buf.putInt(16, w).putInt(20, h);
        var crc = new CRC32();
        crc.update(b, 12, 17);
        buf.putInt(29, (int) crc.getValue());
        return b;
    }

    private static void write(Path dir, String name, byte[] bytes) throws IOException {
        Files.write(dir.resolve(name), bytes);
    }
}
