package dev.skipjack.weights;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Names an unpickled value's kind for error messages without printing it: a hostile pickle can build huge or
 * self-containing structures, so messages never call {@code toString} on containers.
 */
final class Describe {
    private Describe() {}

    static String of(Object v) {
        return switch (v) {
            case null -> "None";
            case Boolean b -> "a bool";
            case Long l -> "an int";
            case java.math.BigInteger b -> "an int";
            case Double d -> "a float";
            case String s -> "a str";
            case byte[] b -> "bytes";
            case PickleTuple t -> t.toString();
            case List<?> l -> "a list";
            case Map<?, ?> m -> "a dict";
            case Set<?> s -> "a set";
            case TensorRef t -> t.toString();
            case StorageRef s -> s.toString();
            case StorageType t -> "the class torch." + t.className;
            case PickleFunction f -> "the function " + f.qualifiedName();
            default -> v.getClass().getSimpleName();
        };
    }
}
