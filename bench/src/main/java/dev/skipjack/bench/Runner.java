package dev.skipjack.bench;

import java.lang.foreign.MemorySegment;

/**
 * One inference runtime under measurement (Skipjack or ONNX Runtime), bound to one input at a time. The bench
 * owns the input; a runner reads it on every {@link #run()} and keeps its logits in memory it owns, so a run
 * allocates nothing the bench would then time.
 */
interface Runner extends AutoCloseable {
    /** Short name for the table: "skipjack", "onnxruntime". */
    String name();

    /** Classes the model predicts (the length of one row of logits). */
    int numClasses();

    /**
     * Prepares to run on {@code input}, float32 NCHW [n][3][h][w] in native byte order. The segment stays alive
     * and unchanged until the next bind or close, and is readable from any thread.
     */
    void bind(MemorySegment input, int n, int h, int w) throws Exception;

    /** One inference on the bound input. */
    void run() throws Exception;

    /** A copy of the logits of the last {@link #run()}: [n][numClasses], row-major. */
    float[] logits();

    @Override
    void close() throws Exception;
}
