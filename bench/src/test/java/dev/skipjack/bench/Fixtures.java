package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** The PyTorch reference fixtures (see BRIEF: -Dskipjack.fixtures); a test that needs them fails without them. */
final class Fixtures {
    private Fixtures() {}

    static Path file(String model, String name) {
        String dir = System.getProperty("skipjack.fixtures");
        if (dir == null || dir.isEmpty()) {
            fail("system property skipjack.fixtures is not set; run with -Dskipjack.fixtures=/path/to/fixtures "
                    + "(./skipjack test does this)");
        }
        Path p = Path.of(dir, model, name);
        if (!Files.isRegularFile(p)) {
            fail("fixture " + p + " is missing; generate the fixtures with src/reference/ensure-fixtures.sh");
        }
        return p;
    }

    /** A little-endian float32 file. */
    static float[] floats(Path p) throws IOException {
        byte[] b = Files.readAllBytes(p);
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }
}
