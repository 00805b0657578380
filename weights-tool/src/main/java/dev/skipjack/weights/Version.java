package dev.skipjack.weights;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The converter's name and version, recorded in every model file it writes (Metadata.converter_version). */
public final class Version {
    private Version() {}

    /** e.g. "skipjack-weights-tool 0.1.0-SNAPSHOT"; the version comes from the Maven build. */
    public static final String CONVERTER = "skipjack-weights-tool " + read();

    private static String read() {
        try (InputStream in = Version.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                var p = new Properties();
                p.load(in);
                String v = p.getProperty("version", "");
                if (!v.isEmpty() && !v.startsWith("${")) {
                    return v;
                }
            }
        } catch (IOException e) {
            // fall through: an unfiltered or missing resource only loses the version number
        }
        return "unknown";
    }
}
