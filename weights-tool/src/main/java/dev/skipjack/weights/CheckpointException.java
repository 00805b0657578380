package dev.skipjack.weights;

import dev.skipjack.format.ModelFormatException;

/**
 * A checkpoint cannot be converted: it is malformed, truncated, exceeds a limit, references a global that is not
 * allowed, or does not hold the tensors its architecture needs. The message names the file and, where there is
 * one, the entry or tensor, with the expected and the actual value.
 */
public class CheckpointException extends ModelFormatException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
