package dev.skipjack.weights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads one pickle (protocols 2 to 5, the binary opcodes {@code torch.save} writes) into a tree of plain Java
 * values, never executing anything:
 * <ul>
 *   <li>None, bool, int, float, str, bytes become {@code null}, {@link Boolean}, {@link Long} (or
 *       {@link BigInteger}), {@link Double}, {@link String}, {@code byte[]};</li>
 *   <li>tuple, list, dict, set become {@link PickleTuple}, {@link ArrayList}, {@link LinkedHashMap},
 *       {@link LinkedHashSet};</li>
 *   <li>a GLOBAL must be in the {@link Allowlist}; REDUCE applies a {@link PickleFunction}, which only builds a
 *       value; a persistent id is handed to the container's {@link PersistentLoader} (a storage reference).</li>
 * </ul>
 * The machine is iterative (no recursion on the input's nesting), and every resource it uses is bounded by the
 * {@link Limits}: values created, mark depth, memo entries, string length; every length is also checked against
 * the bytes left.
 */
final class RestrictedUnpickler {
    /** Resolves a persistent id (torch: a tuple describing a storage) to a value. */
    interface PersistentLoader {
        Object load(Object pid) throws CheckpointException;
    }

    // Opcodes, as named in CPython's pickle module.
    private static final int MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2';
    private static final int BININT = 'J', BININT1 = 'K', BININT2 = 'M', NONE = 'N', BINPERSID = 'Q';
    private static final int REDUCE = 'R', BINSTRING = 'T', SHORT_BINSTRING = 'U', BINUNICODE = 'X';
    private static final int APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}';
    private static final int APPENDS = 'e', BINGET = 'h', INST = 'i', LONG_BINGET = 'j', LIST = 'l';
    private static final int EMPTY_LIST = ']', OBJ = 'o', BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's';
    private static final int TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G';
    private static final int BINBYTES = 'B', SHORT_BINBYTES = 'C';
    private static final int PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84;
    private static final int TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89;
    private static final int LONG1 = 0x8a, LONG4 = 0x8b;
    private static final int SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f;
    private static final int ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93;
    private static final int MEMOIZE = 0x94, FRAME = 0x95, BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97;
    private static final int READONLY_BUFFER = 0x98;
    /** Protocol 0/1 text opcodes; torch.save never writes them (GLOBAL excepted, handled above). */
    private static final String TEXT_OPCODES = "FILLSVgpP";

    private static final int MAX_GLOBAL_NAME = 512;
    /** Items a tuple used as a dict key or set item may hold, all levels together. */
    private static final int MAX_KEY_ITEMS = 256;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_BE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final MemorySegment in;
    private final long end;
    private final Limits limits;
    private final PersistentLoader loader;
    private long pos;
    private long opStart;

    private final ArrayList<Object> stack = new ArrayList<>();
    /** Stack sizes at each open MARK; items below the innermost one are out of reach, as in CPython. */
    private int[] marks = new int[16];
    private int markCount;
    private final HashMap<Long, Object> memo = new HashMap<>();
    private long values;

    /**
     * @param in     holds the pickle at [start, end)
     * @param loader resolves persistent ids, or null where the pickle must have none
     */
    RestrictedUnpickler(MemorySegment in, long start, long end, Limits limits, PersistentLoader loader) {
        if (start < 0 || end > in.byteSize() || start > end) {
            throw new IllegalArgumentException("pickle range [" + start + ", " + end + ") outside the input");
        }
        this.in = in;
        this.pos = start;
        this.end = end;
        this.limits = limits;
        this.loader = loader;
    }

    /** Offset just past the STOP of the pickle last loaded. */
    long position() {
        return pos;
    }

    /**
     * Reads the pickle starting at the current position up to its STOP and returns its value. Failures are
     * reported as {@code <where> byte N: <reason>}.
     */
    Object load(String where) throws CheckpointException {
        stack.clear();
        memo.clear();
        markCount = 0;
        try {
            return run();
        } catch (CheckpointException e) {
            throw new CheckpointException(where + ", pickle byte " + opStart + ": " + e.getMessage(), e);
        }
    }

    private Object run() throws CheckpointException {
        while (true) {
            opStart = pos;
            int op = u8();
            switch (op) {
                case PROTO -> {
                    int v = u8();
                    if (v > 5) {
                        throw new CheckpointException("pickle protocol " + v + " is not supported (0 to 5 are)");
                    }
                }
                case FRAME -> {
                    long n = in.get(I64, need(8));
                    if (n < 0 || n > end - pos) {
                        throw new CheckpointException("frame of " + n + " bytes runs past the end of the pickle");
                    }
                }
                case STOP -> {
                    if (markCount != 0 || stack.size() != 1) {
                        throw new CheckpointException("STOP with " + stack.size() + " values and " + markCount
                                + " open marks on the stack (expected exactly one value)");
                    }
                    return stack.removeLast();
                }
                case MARK -> {
                    if (markCount == limits.maxMarkDepth()) {
                        throw new CheckpointException("more than " + limits.maxMarkDepth() + " nested marks ("
                                + Limits.PICKLE_DEPTH + ")");
                    }
                    if (markCount == marks.length) {
                        marks = Arrays.copyOf(marks, marks.length * 2);
                    }
                    marks[markCount++] = stack.size();
                }
                case POP -> pop();
                case POP_MARK -> popMark();
                case DUP -> push(peek());

                case NONE -> push(null);
                case NEWTRUE -> push(Boolean.TRUE);
                case NEWFALSE -> push(Boolean.FALSE);
                case BININT1 -> push((long) u8());
                case BININT2 -> push((long) Short.toUnsignedInt(in.get(U16, need(2))));
                case BININT -> push((long) in.get(I32, need(4)));
                case LONG1 -> push(longFromBytes(u8()));
                case LONG4 -> push(longFromBytes(in.get(I32, need(4))));
                case BINFLOAT -> push(in.get(F64_BE, need(8)));

                case SHORT_BINUNICODE -> push(string(u8()));
                case BINUNICODE -> push(string(Integer.toUnsignedLong(in.get(I32, need(4)))));
                case BINUNICODE8 -> push(string(in.get(I64, need(8))));
                // Python 2 str: torch.load decodes it as UTF-8 by default.
                case SHORT_BINSTRING -> push(string(u8()));
                case BINSTRING -> push(string(in.get(I32, need(4))));
                case SHORT_BINBYTES -> push(bytes(u8()));
                case BINBYTES -> push(bytes(Integer.toUnsignedLong(in.get(I32, need(4)))));
                case BINBYTES8, BYTEARRAY8 -> push(bytes(in.get(I64, need(8))));

                case EMPTY_TUPLE -> push(PickleTuple.EMPTY);
                case TUPLE1 -> push(tupleOf(1));
                case TUPLE2 -> push(tupleOf(2));
                case TUPLE3 -> push(tupleOf(3));
                case TUPLE -> push(new PickleTuple(popMark()));
                case EMPTY_LIST -> push(new ArrayList<>());
                case LIST -> push(new ArrayList<>(popMark()));
                case APPEND -> {
                    Object v = pop();
                    list(peek()).add(v);
                    count(1);
                }
                case APPENDS -> {
                    List<Object> items = popMark();
                    list(peek()).addAll(items);
                    count(items.size());
                }
                case EMPTY_DICT -> push(new LinkedHashMap<>());
                case DICT -> {
                    List<Object> items = popMark();
                    var d = new LinkedHashMap<Object, Object>();
                    putAll(d, items);
                    push(d);
                }
                case SETITEM -> {
                    Object v = pop();
                    Object k = pop();
                    putAll(dict(peek()), Arrays.asList(k, v));
                }
                case SETITEMS -> {
                    List<Object> items = popMark();
                    putAll(dict(peek()), items);
                }
                case EMPTY_SET -> push(new LinkedHashSet<>());
                case ADDITEMS -> {
                    List<Object> items = popMark();
                    addAll(set(peek()), items);
                }
                case FROZENSET -> {
                    var s = new LinkedHashSet<Object>();
                    addAll(s, popMark());
                    push(Collections.unmodifiableSet(s));
                }

                case BINPUT -> memoPut(u8());
                case LONG_BINPUT -> memoPut(Integer.toUnsignedLong(in.get(I32, need(4))));
                case MEMOIZE -> memoPut(memo.size());
                case BINGET -> memoGet(u8());
                case LONG_BINGET -> memoGet(Integer.toUnsignedLong(in.get(I32, need(4))));

                case GLOBAL -> {
                    String module = line();
                    String name = line();
                    push(Allowlist.resolve(module, name));
                }
                case STACK_GLOBAL -> {
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw new CheckpointException("STACK_GLOBAL needs two strings, got " + Describe.of(module)
                                + " and " + Describe.of(name));
                    }
                    push(Allowlist.resolve(m, n));
                }
                case REDUCE -> {
                    Object args = pop();
                    Object callable = pop();
                    if (!(callable instanceof PickleFunction f)) {
                        throw new CheckpointException("REDUCE cannot call " + Describe.of(callable));
                    }
                    if (!(args instanceof PickleTuple t)) {
                        throw new CheckpointException("REDUCE of " + f.qualifiedName() + " needs an argument tuple, got "
                                + Describe.of(args));
                    }
                    push(f.apply(t));
                }
                case BUILD -> {
                    pop();
                    Object target = peek();
                    // An OrderedDict state_dict carries a _metadata attribute (per-module versions): not needed.
                    if (!(target instanceof LinkedHashMap<?, ?>)) {
                        throw new CheckpointException("BUILD (setting the state of " + Describe.of(target)
                                + ") is not supported");
                    }
                }
                case BINPERSID -> {
                    Object pid = pop();
                    if (loader == null) {
                        throw new CheckpointException("unexpected persistent id in a pickle that should have none");
                    }
                    push(loader.load(pid));
                }
                case NEWOBJ, NEWOBJ_EX, OBJ -> throw new CheckpointException("refusing to instantiate a class (opcode "
                        + opName(op) + ")");
                case INST -> {
                    String module = line();
                    String name = line();
                    Allowlist.resolve(module, name);
                    throw new CheckpointException("refusing to instantiate " + module + "." + name + " (opcode INST)");
                }
                case EXT1, EXT2, EXT4 -> throw new CheckpointException(
                        "refusing a global from the copyreg extension registry (opcode " + opName(op) + ")");
                case NEXT_BUFFER, READONLY_BUFFER -> throw new CheckpointException(
                        "out-of-band buffers (pickle protocol 5) are not supported");
                default -> {
                    if (TEXT_OPCODES.indexOf(op) >= 0) {
                        throw new CheckpointException("unsupported text opcode '" + (char) op
                                + "' (protocol 0/1; torch.save writes binary pickles)");
                    }
                    throw new CheckpointException("unknown pickle opcode " + opName(op)
                            + "; the file is corrupt or not a pickle");
                }
            }
        }
    }

    private static String opName(int op) {
        return String.format("0x%02x", op);
    }

    // ---- input ----

    /** Checks that n bytes remain and returns the offset where they start, advancing past them. */
    private long need(long n) throws CheckpointException {
        if (n < 0 || n > end - pos) {
            throw new CheckpointException("the pickle is truncated (needs " + n + " bytes at offset " + pos
                    + ", " + (end - pos) + " left)");
        }
        long at = pos;
        pos += n;
        return at;
    }

    private int u8() throws CheckpointException {
        return Byte.toUnsignedInt(in.get(ValueLayout.JAVA_BYTE, need(1)));
    }

    private byte[] raw(long n, String what) throws CheckpointException {
        if (n < 0 || n > limits.maxStringBytes()) {
            throw new CheckpointException(what + " of " + n + " bytes is over the limit of "
                    + limits.maxStringBytes() + " (" + Limits.STRING_BYTES + ")");
        }
        long at = need(n);
        return in.asSlice(at, n).toArray(ValueLayout.JAVA_BYTE);
    }

    private String string(long n) throws CheckpointException {
        return new String(raw(n, "a string"), StandardCharsets.UTF_8);
    }

    private byte[] bytes(long n) throws CheckpointException {
        return raw(n, "a bytes object");
    }

    /** Little-endian two's complement, as LONG1/LONG4 store it. */
    private Object longFromBytes(long n) throws CheckpointException {
        byte[] le = raw(n, "an integer");
        if (le.length == 0) {
            return 0L;
        }
        byte[] be = new byte[le.length];
        for (int i = 0; i < le.length; i++) {
            be[i] = le[le.length - 1 - i];
        }
        var v = new BigInteger(be);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    /** A newline-terminated name (GLOBAL, INST). */
    private String line() throws CheckpointException {
        long start = pos;
        while (true) {
            if (pos >= end || pos - start > MAX_GLOBAL_NAME) {
                throw new CheckpointException("a global's name is unterminated or longer than " + MAX_GLOBAL_NAME
                        + " bytes");
            }
            if (in.get(ValueLayout.JAVA_BYTE, pos++) == '\n') {
                return new String(in.asSlice(start, pos - 1 - start).toArray(ValueLayout.JAVA_BYTE),
                        StandardCharsets.UTF_8);
            }
        }
    }

    // ---- stack and memo ----

    private void count(long n) throws CheckpointException {
        values += n;
        if (values > limits.maxValues()) {
            throw new CheckpointException("the pickle creates more than " + limits.maxValues() + " values ("
                    + Limits.PICKLE_VALUES + ")");
        }
    }

    private void push(Object v) throws CheckpointException {
        count(1);
        stack.add(v);
    }

    private int base() {
        return markCount == 0 ? 0 : marks[markCount - 1];
    }

    private Object pop() throws CheckpointException {
        if (stack.size() <= base()) {
            throw new CheckpointException("stack underflow");
        }
        return stack.removeLast();
    }

    private Object peek() throws CheckpointException {
        if (stack.size() <= base()) {
            throw new CheckpointException("stack underflow");
        }
        return stack.getLast();
    }

    /** The items pushed since the innermost MARK, which is closed. */
    private List<Object> popMark() throws CheckpointException {
        if (markCount == 0) {
            throw new CheckpointException("no MARK to pop to");
        }
        int m = marks[--markCount];
        List<Object> top = stack.subList(m, stack.size());
        List<Object> items = new ArrayList<>(top);
        top.clear();
        return items;
    }

    private PickleTuple tupleOf(int n) throws CheckpointException {
        Object[] items = new Object[n];
        for (int i = n - 1; i >= 0; i--) {
            items[i] = pop();
        }
        return new PickleTuple(Arrays.asList(items));
    }

    private void memoPut(long index) throws CheckpointException {
        Object v = peek();
        if (!memo.containsKey(index) && memo.size() >= limits.maxMemoEntries()) {
            throw new CheckpointException("the pickle's memo grows past " + limits.maxMemoEntries() + " entries ("
                    + Limits.MEMO_ENTRIES + ")");
        }
        memo.put(index, v);
    }

    private void memoGet(long index) throws CheckpointException {
        if (!memo.containsKey(index)) {
            throw new CheckpointException("memo entry " + index + " is read before it is written");
        }
        push(memo.get(index));
    }

    // ---- containers ----

    @SuppressWarnings("unchecked")
    private static ArrayList<Object> list(Object o) throws CheckpointException {
        if (o instanceof ArrayList<?> l) {
            return (ArrayList<Object>) l;
        }
        throw new CheckpointException("APPEND(S) to " + Describe.of(o) + ", not a list");
    }

    @SuppressWarnings("unchecked")
    private static LinkedHashMap<Object, Object> dict(Object o) throws CheckpointException {
        if (o instanceof LinkedHashMap<?, ?> d) {
            return (LinkedHashMap<Object, Object>) d;
        }
        throw new CheckpointException("SETITEM(S) on " + Describe.of(o) + ", not a dict");
    }

    @SuppressWarnings("unchecked")
    private static LinkedHashSet<Object> set(Object o) throws CheckpointException {
        if (o instanceof LinkedHashSet<?> s) {
            return (LinkedHashSet<Object>) s;
        }
        throw new CheckpointException("ADDITEMS to " + Describe.of(o) + ", not a set");
    }

    private void putAll(LinkedHashMap<Object, Object> d, List<Object> items) throws CheckpointException {
        if (items.size() % 2 != 0) {
            throw new CheckpointException("odd number of items (" + items.size() + ") for a dict");
        }
        for (int i = 0; i < items.size(); i += 2) {
            checkHashable(items.get(i));
            d.put(items.get(i), items.get(i + 1));
        }
        count(items.size() / 2);
    }

    private void addAll(Set<Object> s, List<Object> items) throws CheckpointException {
        for (Object o : items) {
            checkHashable(o);
            s.add(o);
        }
        count(items.size());
    }

    /**
     * Dict keys and set items must be immutable scalars or small tuples of them. Java hashes a key recursively:
     * a mutable, possibly self-containing container, or a tuple that shares its items level after level (linear
     * in the pickle, exponential as a tree), would overflow the stack or never finish.
     */
    private static void checkHashable(Object k) throws CheckpointException {
        if (!(k instanceof PickleTuple)) {
            if (!isHashableScalar(k)) {
                throw new CheckpointException("unsupported dict key or set item: " + Describe.of(k));
            }
            return;
        }
        var pending = new ArrayList<Object>();
        pending.add(k);
        int seen = 0;
        while (!pending.isEmpty()) {
            Object o = pending.removeLast();
            if (++seen > MAX_KEY_ITEMS) {
                throw new CheckpointException("a dict key is a tuple too large or too deeply nested (over "
                        + MAX_KEY_ITEMS + " items)");
            }
            if (o instanceof PickleTuple t) {
                pending.addAll(t.items());
            } else if (!isHashableScalar(o)) {
                throw new CheckpointException("unsupported dict key or set item: a tuple holding " + Describe.of(o));
            }
        }
    }

    private static boolean isHashableScalar(Object k) {
        return k == null || k instanceof String || k instanceof Long || k instanceof BigInteger || k instanceof Double
                || k instanceof Boolean || k instanceof StorageType || k instanceof PickleFunction;
    }
}
