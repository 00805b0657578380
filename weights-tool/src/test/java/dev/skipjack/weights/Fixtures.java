package dev.skipjack.weights;

import static org.junit.jupiter.api.Assertions.fail;

import dev.skipjack.engine.testing.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The PyTorch reference fixtures (src/reference), found through the system property {@code skipjack.fixtures}.
 * A test that needs them fails, never skips, when they are absent.
 */
final class Fixtures {
    /** One entry of a tensors.json: sha256 of the float32 (int64) contiguous little-endian bytes. */
    record ExpectedTensor(String name, String dtype, long[] shape, String sha256) {}

    private Fixtures() {}

    static Path root() {
        String dir = System.getProperty("skipjack.fixtures");
        if (dir == null || dir.isBlank()) {
            fail("system property skipjack.fixtures is not set; run the tests with -Dskipjack.fixtures=DIR "
                    + "(./skipjack test generates the fixtures)");
        }
        Path root = Path.of(dir);
        if (!Files.isRegularFile(root.resolve("manifest.json"))) {
            fail("PyTorch reference fixtures are missing: no " + root.resolve("manifest.json")
                    + "; generate them with src/reference/generate_fixtures.py (./skipjack test does)");
        }
        return root;
    }

    static Path path(String relative) {
        Path p = root().resolve(relative);
        if (!Files.exists(p)) {
            fail("fixture " + p + " is missing; regenerate the fixtures (src/reference/generate_fixtures.py)");
        }
        return p;
    }

    static Object json(String relative) throws IOException {
        return Json.parse(Files.readString(path(relative), StandardCharsets.UTF_8));
    }

    static List<ExpectedTensor> expectedTensors(String relative) throws IOException {
        var list = new ArrayList<ExpectedTensor>();
        for (Object o : Json.array(json(relative))) {
            Map<String, Object> m = Json.object(o);
            List<Object> shape = Json.array(m.get("shape"));
            long[] s = new long[shape.size()];
            for (int i = 0; i < s.length; i++) {
                s[i] = ((Number) shape.get(i)).longValue();
            }
            list.add(new ExpectedTensor((String) m.get("name"), (String) m.get("dtype"), s, (String) m.get("sha256")));
        }
        return list;
    }

    /** Model names of the manifest, e.g. resnet18, tiny_basic. */
    static List<String> models() throws IOException {
        return new ArrayList<>(Json.object(Json.object(json("manifest.json")).get("models")).keySet());
    }

    static Map<String, Object> info(String model) throws IOException {
        return Json.object(json(model + "/info.json"));
    }
}
