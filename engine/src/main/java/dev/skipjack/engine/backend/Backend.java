package dev.skipjack.engine.backend;

import java.util.List;

/**
 * Something that runs layers of one loaded model: the CPU kernels, or an accelerator. A backend is opened
 * once per model (an accelerator copies the weights it needs to its device then) and closed with it.
 *
 * <p>The dispatch profile decides, once per model, which backend runs each layer; each plan (one per input
 * shape) then asks the chosen backend for one {@link Step} per maximal run of consecutive layers assigned to
 * it. Values cross between backends only at the edges of those runs, through the plan's host buffers.
 */
public interface Backend extends AutoCloseable {
    /** Short name used in profiles and printed plans: {@code cpu}, {@code tornadovm}. */
    String name();

    /** The device in words, e.g. "2 threads" or "OpenCL: NVIDIA H100". */
    String device();

    /** Null if this backend can run {@code layer}, else why not (printed in the plan). */
    String unsupported(Layer layer);

    /**
     * A step that runs {@code run} (consecutive layers, all assigned to this backend) for {@code shapes}.
     *
     * @param onHost per value: whether something after the run reads it on the host (another backend, or the
     *               caller for the model's output), so the step must leave it in {@link Step.Activations}
     */
    Step compile(List<Layer> run, ActivationShapes shapes, boolean[] onHost);

    /**
     * Seconds one execution of {@code layer} alone takes for {@code shapes}, measured after a warm-up run;
     * device transfers of its inputs and outputs are left out. Used by the {@code auto} profile at load.
     */
    double time(Layer layer, ActivationShapes shapes);

    /** Releases what the backend holds for the model (device memory, compiled code). Idempotent. */
    @Override
    void close();
}
