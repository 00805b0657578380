package dev.skipjack.weights;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The named tensors of a checkpoint, as torchvision's {@code state_dict()} names them. A checkpoint may hold the
 * state_dict itself, or a dict wrapping it under {@code "state_dict"} (training scripts, Lightning) or
 * {@code "model"}; a model trained with {@code nn.DataParallel} prefixes every name with {@code "module."}.
 *
 * @param source  where it was found, for messages: "the top-level dict" or "key 'state_dict'"
 * @param tensors name to tensor, in checkpoint order, prefixes stripped
 */
record StateDict(String source, Map<String, TensorRef> tensors) {
    private static final String[] WRAPPER_KEYS = {"state_dict", "model"};
    private static final String DATA_PARALLEL_PREFIX = "module.";

    static StateDict locate(LoadedCheckpoint ck) throws CheckpointException {
        return locate(ck, Limits.defaults());
    }

    /** Finds the state_dict, refusing one of more than {@link Limits#maxTensors()} entries. */
    static StateDict locate(LoadedCheckpoint ck, Limits limits) throws CheckpointException {
        String file = ck.fileName();
        if (!(ck.root() instanceof Map<?, ?> top)) {
            throw new CheckpointException(file + ": the checkpoint holds " + Describe.of(ck.root())
                    + ", expected a dict of tensors (a state_dict)");
        }
        Map<?, ?> dict = top;
        String source = "the top-level dict";
        for (String key : WRAPPER_KEYS) {
            if (top.get(key) instanceof Map<?, ?> inner) {
                dict = inner;
                source = "key '" + key + "'";
                break;
            }
        }
        if (dict.size() > limits.maxTensors()) {
            throw new CheckpointException(file + ": the state_dict in " + source + " has " + dict.size()
                    + " entries, over the limit of " + limits.maxTensors() + " tensors (" + Limits.TENSORS + ")");
        }
        var tensors = new LinkedHashMap<String, TensorRef>();
        for (Map.Entry<?, ?> e : dict.entrySet()) {
            if (!(e.getKey() instanceof String name)) {
                throw new CheckpointException(file + ": the state_dict in " + source + " has a key that is "
                        + Describe.of(e.getKey()) + ", not a str");
            }
            if (!(e.getValue() instanceof TensorRef t)) {
                throw new CheckpointException(file + ": entry '" + Allowlist.printable(name) + "' of the state_dict in "
                        + source + " is " + Describe.of(e.getValue()) + ", not a tensor");
            }
            String stripped = name.startsWith(DATA_PARALLEL_PREFIX) ? name.substring(DATA_PARALLEL_PREFIX.length())
                    : name;
            if (tensors.put(stripped, t) != null) {
                throw new CheckpointException(file + ": tensor " + Allowlist.printable(stripped)
                        + " appears both with and without the 'module.' prefix");
            }
        }
        if (tensors.isEmpty()) {
            throw new CheckpointException(file + ": the state_dict in " + source + " holds no tensors");
        }
        return new StateDict(source, Collections.unmodifiableMap(tensors));
    }

    /** Name to shape, for detection and validation, which need no tensor bytes. */
    Map<String, long[]> shapes() {
        var m = new LinkedHashMap<String, long[]>();
        tensors.forEach((n, t) -> m.put(n, t.shape()));
        return m;
    }
}
