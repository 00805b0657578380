package dev.skipjack.weights;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The callables a tensor checkpoint's pickle may REDUCE. None of them is "called": each builds a plain value
 * (a dict, a {@link TensorRef}) from its already-unpickled arguments, after checking their types.
 */
enum PickleFunction {
    /** {@code collections.OrderedDict()}: the state_dict itself and the (empty) backward-hooks dicts. */
    ORDERED_DICT("collections", "OrderedDict") {
        @Override
        Object apply(PickleTuple args) throws CheckpointException {
            if (args.size() != 0) {
                throw bad("expects no arguments (items follow as SETITEMS), got " + args.size());
            }
            return new LinkedHashMap<Object, Object>();
        }
    },
    /** {@code torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])}. */
    REBUILD_TENSOR_V2("torch._utils", "_rebuild_tensor_v2") {
        @Override
        Object apply(PickleTuple args) throws CheckpointException {
            if (args.size() != 6 && args.size() != 7) {
                throw bad("expects (storage, storage_offset, size, stride, requires_grad, backward_hooks"
                        + "[, metadata]), got " + args.size() + " arguments");
            }
            if (!(args.get(4) instanceof Boolean)) {
                throw bad("argument requires_grad must be a bool, got " + Describe.of(args.get(4)));
            }
            if (args.get(5) instanceof Map<?, ?> hooks && !hooks.isEmpty()) {
                throw bad("backward hooks are not supported (the tensor carries " + hooks.size() + ")");
            }
            return tensor(args);
        }
    },
    /** {@code torch._utils._rebuild_tensor(storage, offset, size, stride)}: checkpoints older than PyTorch 0.4. */
    REBUILD_TENSOR("torch._utils", "_rebuild_tensor") {
        @Override
        Object apply(PickleTuple args) throws CheckpointException {
            if (args.size() != 4) {
                throw bad("expects (storage, storage_offset, size, stride), got " + args.size() + " arguments");
            }
            return tensor(args);
        }
    },
    /** {@code torch._utils._rebuild_parameter(data, requires_grad, hooks)}: an nn.Parameter is its tensor here. */
    REBUILD_PARAMETER("torch._utils", "_rebuild_parameter") {
        @Override
        Object apply(PickleTuple args) throws CheckpointException {
            if (args.size() != 3 || !(args.get(0) instanceof TensorRef t)) {
                throw bad("expects (tensor, requires_grad, backward_hooks), got "
                        + (args.size() == 0 ? "no arguments" : Describe.of(args.get(0)) + " and "
                                + (args.size() - 1) + " more"));
            }
            return t;
        }
    };

    final String module;
    final String name;

    PickleFunction(String module, String name) {
        this.module = module;
        this.name = name;
    }

    String qualifiedName() {
        return module + "." + name;
    }

    /** Builds the value this call stands for; the message of a failure names the function. */
    abstract Object apply(PickleTuple args) throws CheckpointException;

    CheckpointException bad(String what) {
        return new CheckpointException(qualifiedName() + " " + what);
    }

    TensorRef tensor(PickleTuple args) throws CheckpointException {
        if (!(args.get(0) instanceof StorageRef storage)) {
            throw bad("argument storage must be a storage, got " + Describe.of(args.get(0)));
        }
        if (!(args.get(1) instanceof Long offset)) {
            throw bad("argument storage_offset must be an int, got " + Describe.of(args.get(1)));
        }
        long[] shape = longs(args.get(2), "size");
        long[] stride = longs(args.get(3), "stride");
        if (shape.length != stride.length) {
            throw bad("size has " + shape.length + " dimensions but stride has " + stride.length);
        }
        return new TensorRef(storage, offset, shape, stride);
    }

    private long[] longs(Object v, String what) throws CheckpointException {
        if (!(v instanceof PickleTuple t)) {
            throw bad("argument " + what + " must be a tuple of ints, got " + Describe.of(v));
        }
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.get(i) instanceof Long l)) {
                throw bad("argument " + what + " must be a tuple of ints, item " + i + " is " + Describe.of(t.get(i)));
            }
            out[i] = l;
        }
        return out;
    }
}
