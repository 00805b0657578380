package dev.skipjack.weights;

import java.util.HashMap;
import java.util.Map;

/**
 * The only globals a checkpoint's pickle may name: the storage classes, the tensor rebuild functions and
 * {@code collections.OrderedDict}. Anything else (os.system, builtins.eval, torch.storage._load_from_bytes,
 * a pickled nn.Module class...) is refused by name the moment the GLOBAL opcode is read, before any argument
 * for it exists.
 */
final class Allowlist {
    private static final Map<String, Object> ALLOWED = new HashMap<>();

    static {
        for (PickleFunction f : PickleFunction.values()) {
            ALLOWED.put(f.qualifiedName(), f);
        }
        for (StorageType t : StorageType.values()) {
            ALLOWED.put("torch." + t.className, t);
            // Pre-1.0 checkpoints name the device-specific class; the bytes on disk are the same.
            ALLOWED.put("torch.cuda." + t.className, t);
        }
    }

    private Allowlist() {}

    /** The value the global stands for: a {@link PickleFunction} or a {@link StorageType}. */
    static Object resolve(String module, String name) throws CheckpointException {
        String qualified = module + "." + name;
        Object v = ALLOWED.get(qualified);
        if (v == null) {
            throw new CheckpointException("refusing global " + printable(qualified) + hint(module, name));
        }
        return v;
    }

    private static String hint(String module, String name) {
        if (module.equals("torch.storage") && name.equals("_load_from_bytes")) {
            return " (it would unpickle a nested, unchecked pickle)";
        }
        if (module.startsWith("torchvision.") || module.startsWith("torch.nn.") || module.equals("__main__")) {
            return " (the checkpoint pickles a whole model object; save and convert model.state_dict() instead)";
        }
        return " (a tensor checkpoint needs only storages, tensors and OrderedDict; nothing is ever executed)";
    }

    /** Keeps a hostile name from writing control characters to the terminal. */
    static String printable(String s) {
        var b = new StringBuilder(Math.min(s.length(), 200));
        for (int i = 0; i < s.length() && i < 200; i++) {
            char c = s.charAt(i);
            b.append(c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\u%04x", (int) c));
        }
        if (s.length() > 200) {
            b.append("...");
        }
        return b.toString();
    }
}
