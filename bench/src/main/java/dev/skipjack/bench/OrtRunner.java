package dev.skipjack.bench;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * ONNX Runtime's Java API on an ONNX ResNet, configured the way a careful Java user would for latency:
 * {@code threads} intra-op threads (the caller's thread counts as one, as in Skipjack's pool), one inter-op
 * thread, sequential execution and every graph optimization (which folds batch norm and fuses conv + add +
 * ReLU). The input tensor wraps the bench's input memory without a copy and the logits land in a buffer
 * pinned once per bind, so a timed run is ONNX Runtime's own work only.
 */
final class OrtRunner implements Runner {
    private final Path file;
    private final OrtEnvironment env;
    private final OrtSession session;
    private final String inputName;
    private final String outputName;
    private final long[] inputShape;
    private final int numClasses;

    private OnnxTensor input;
    private OnnxTensor output;
    private FloatBuffer logits;
    private Map<String, OnnxTensor> inputs;
    private Map<String, OnnxTensor> pinned;

    private OrtRunner(Path file, OrtEnvironment env, OrtSession session) throws OrtException {
        this.file = file;
        this.env = env;
        this.session = session;
        if (session.getNumInputs() != 1 || session.getNumOutputs() < 1) {
            throw new IllegalArgumentException(file + ": expected one input and at least one output, found "
                    + session.getNumInputs() + " inputs " + session.getInputNames() + " and "
                    + session.getNumOutputs() + " outputs " + session.getOutputNames());
        }
        this.inputName = session.getInputNames().iterator().next();
        this.outputName = session.getOutputNames().iterator().next();
        this.inputShape = tensorShape(session.getInputInfo().get(inputName), "input");
        long[] outShape = tensorShape(session.getOutputInfo().get(outputName), "output");
        if (inputShape.length != 4 || (inputShape[1] != 3 && inputShape[1] >= 0)) {
            throw new IllegalArgumentException(file + ": input '" + inputName + "' should be [N,3,H,W], found "
                    + Arrays.toString(inputShape));
        }
        if (outShape.length != 2 || outShape[1] <= 0) {
            throw new IllegalArgumentException(file + ": output '" + outputName + "' should be [N,classes] with "
                    + "a fixed number of classes, found " + Arrays.toString(outShape));
        }
        this.numClasses = Math.toIntExact(outShape[1]);
    }

    private long[] tensorShape(NodeInfo node, String what) {
        if (!(node.getInfo() instanceof TensorInfo t) || t.type != ai.onnxruntime.OnnxJavaType.FLOAT) {
            throw new IllegalArgumentException(file + ": " + what + " '" + node.getName()
                    + "' should be a float32 tensor, found " + node.getInfo());
        }
        return t.getShape();
    }

    /** Opens {@code file} in a session with {@code threads} intra-op threads. */
    static OrtRunner open(Path file, int threads) throws Exception {
        return open(file, threads, null);
    }

    /**
     * As {@link #open(Path, int)}, with ONNX Runtime's profiler on when {@code profilePrefix} is not null: every
     * run then records each node's time, written by {@link #endProfiling} to a JSON file whose name starts with
     * the prefix. For {@link OrtProfile}; the timed comparison runs without it.
     */
    static OrtRunner open(Path file, int threads, Path profilePrefix) throws Exception {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "ONNX model file not found");
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (var opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(threads);
            opts.setInterOpNumThreads(1);
            opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            // For diagnosis only (bench/README): "0" stops ONNX Runtime's workers spinning after each call.
            String spinning = System.getProperty("skipjack.bench.ortSpinning");
            if (spinning != null) {
                opts.addConfigEntry("session.intra_op.allow_spinning", spinning);
            }
            if (profilePrefix != null) {
                opts.enableProfiling(profilePrefix.toString());
            }
            OrtSession session = env.createSession(file.toString(), opts);
            try {
                return new OrtRunner(file, env, session);
            } catch (RuntimeException | OrtException e) {
                session.close();
                throw e;
            }
        }
    }

    /** Stops the profiler (see {@link #open(Path, int, Path)}) and returns the file it wrote. */
    Path endProfiling() throws OrtException {
        return Path.of(session.endProfiling());
    }

    /** ONNX Runtime's version, e.g. "1.29.0". */
    String version() {
        return env.getVersion();
    }

    @Override
    public String name() {
        return "onnxruntime";
    }

    @Override
    public int numClasses() {
        return numClasses;
    }

    @Override
    public void bind(MemorySegment in, int n, int h, int w) throws OrtException {
        long[] want = {n, 3, h, w};
        for (int d = 0; d < 4; d++) {
            if (inputShape[d] >= 0 && inputShape[d] != want[d]) {
                throw new IllegalArgumentException(file + ": input '" + inputName + "' has the fixed shape "
                        + Arrays.toString(inputShape) + " but the bench asks for " + Arrays.toString(want)
                        + " (--batch/--size); export the model with dynamic axes or match its shape");
            }
        }
        if (in.byteSize() != 4L * n * 3 * h * w) {
            throw new IllegalArgumentException("input segment holds " + in.byteSize() + " bytes, expected "
                    + 4L * n * 3 * h * w + " for " + Arrays.toString(want));
        }
        unbind();
        // A direct buffer is handed to ONNX Runtime as is: it reads the bench's input in place.
        input = OnnxTensor.createTensor(env, in.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer(),
                want);
        logits = ByteBuffer.allocateDirect(4 * n * numClasses).order(ByteOrder.nativeOrder()).asFloatBuffer();
        output = OnnxTensor.createTensor(env, logits, new long[] {n, numClasses});
        inputs = Map.of(inputName, input);
        pinned = Map.of(outputName, output);
    }

    @Override
    public void run() throws OrtException {
        if (input == null) {
            throw new IllegalStateException("OrtRunner.run before bind");
        }
        // The result does not own pinned outputs: closing it frees nothing of ours.
        try (OrtSession.Result r = session.run(inputs, pinned)) {
            assert !r.isResultOwner(0);
        }
    }

    @Override
    public float[] logits() {
        float[] out = new float[logits.capacity()];
        logits.get(0, out);
        return out;
    }

    private void unbind() {
        if (input != null) {
            input.close();
            output.close();
            input = null;
            output = null;
        }
    }

    @Override
    public void close() throws OrtException {
        unbind();
        session.close();
    }
}
