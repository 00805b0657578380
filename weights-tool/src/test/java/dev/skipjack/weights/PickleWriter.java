package dev.skipjack.weights;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Writes pickle opcodes by hand, so tests can build exactly the (hostile or odd) input they need. */
final class PickleWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    PickleWriter proto(int version) {
        return op(0x80).raw(version);
    }

    PickleWriter op(int opcode) {
        out.write(opcode);
        return this;
    }

    PickleWriter raw(int... bytes) {
        for (int b : bytes) {
            out.write(b);
        }
        return this;
    }

    PickleWriter raw(byte[] bytes) {
        out.writeBytes(bytes);
        return this;
    }

    PickleWriter le32(long v) {
        return raw((int) v & 0xff, (int) (v >> 8) & 0xff, (int) (v >> 16) & 0xff, (int) (v >> 24) & 0xff);
    }

    PickleWriter le64(long v) {
        return le32(v).le32(v >>> 32);
    }

    /** GLOBAL 'module\nname\n' (protocols 0 to 3). */
    PickleWriter global(String module, String name) {
        return op('c').raw((module + "\n" + name + "\n").getBytes(StandardCharsets.UTF_8));
    }

    /** BINUNICODE */
    PickleWriter str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return op('X').le32(b.length).raw(b);
    }

    /** SHORT_BINUNICODE (protocol 4) */
    PickleWriter shortStr(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return op(0x8c).raw(b.length).raw(b);
    }

    PickleWriter integer(long v) {
        if (v >= 0 && v < 256) {
            return op('K').raw((int) v);
        }
        if (v >= 0 && v < 65536) {
            return op('M').raw((int) v & 0xff, (int) (v >> 8));
        }
        if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            return op('J').le32(v);
        }
        return op(0x8a).raw(8).le64(v);
    }

    PickleWriter bool(boolean b) {
        return op(b ? 0x88 : 0x89);
    }

    PickleWriter none() {
        return op('N');
    }

    PickleWriter mark() {
        return op('(');
    }

    /** TUPLE closing a MARK */
    PickleWriter tuple() {
        return op('t');
    }

    /** A tuple of ints, with the short opcodes torch's pickler uses. */
    PickleWriter intTuple(long... v) {
        if (v.length == 0) {
            return op(')');
        }
        if (v.length <= 3) {
            for (long x : v) {
                integer(x);
            }
            return op(0x84 + v.length);
        }
        mark();
        for (long x : v) {
            integer(x);
        }
        return tuple();
    }

    PickleWriter emptyTuple() {
        return op(')');
    }

    PickleWriter emptyDict() {
        return op('}');
    }

    PickleWriter emptyList() {
        return op(']');
    }

    PickleWriter setItems() {
        return op('u');
    }

    PickleWriter appends() {
        return op('e');
    }

    PickleWriter reduce() {
        return op('R');
    }

    PickleWriter binPersId() {
        return op('Q');
    }

    PickleWriter put(int memo) {
        return op('q').raw(memo);
    }

    PickleWriter get(int memo) {
        return op('h').raw(memo);
    }

    PickleWriter stop() {
        return op('.');
    }

    byte[] bytes() {
        return out.toByteArray();
    }
}
