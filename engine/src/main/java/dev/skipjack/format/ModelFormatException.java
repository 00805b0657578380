package dev.skipjack.format;

import java.io.IOException;

/**
 * A model file (or a checkpoint being converted) is malformed: wrong magic, unknown version, a tensor whose
 * shape, dtype, offset or length does not fit. The message always names the file and, where there is one, the
 * tensor, with the expected and the actual value.
 */
public class ModelFormatException extends IOException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
