package dev.skipjack.engine.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** The PyTorch reference fixtures (see src/reference): where they are, and readers for their raw files. */
public final class Fixtures {
    private Fixtures() {}

    /** The fixture folder from {@code -Dskipjack.fixtures}; fails (never skips) when it is absent. */
    public static Path dir() {
        String p = System.getProperty("skipjack.fixtures");
        if (p == null || p.isBlank()) {
            throw new AssertionError("system property skipjack.fixtures is not set: run with "
                    + "-Dskipjack.fixtures=/path/to/fixtures (./skipjack test generates them)");
        }
        Path dir = Path.of(p);
        if (!Files.isRegularFile(dir.resolve("manifest.json"))) {
            throw new AssertionError("PyTorch reference fixtures are missing: no manifest.json in " + dir
                    + " (generate them with src/reference/generate_fixtures.py or ./skipjack test)");
        }
        return dir;
    }

    /** A fixture file that must exist. */
    public static Path file(String relative) {
        Path f = dir().resolve(relative);
        if (!Files.isRegularFile(f)) {
            throw new AssertionError("fixture file missing: " + f);
        }
        return f;
    }

    public static float[] readF32(Path f) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        float[] a = new float[b.remaining() / 4];
        b.asFloatBuffer().get(a);
        return a;
    }

    public static double[] readF64(Path f) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        double[] a = new double[b.remaining() / 8];
        b.asDoubleBuffer().get(a);
        return a;
    }
}
