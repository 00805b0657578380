package dev.skipjack.weights;

import dev.skipjack.format.ReadLimits;

/**
 * Bounds on what an untrusted checkpoint may make the converter do. Every size read from the file is checked
 * against the file itself first; these limits additionally cap what a well-formed but hostile file could ask
 * for (a zip with millions of entries, a deflate bomb, a pickle that fills the memo, a tensor view that
 * broadcasts one element to terabytes). Exceeding one is a {@link CheckpointException} that names the limit.
 *
 * <p>{@link #defaults()} starts from built-in values and lets each be overridden by a system property
 * ({@code -Dskipjack.limit.zipEntries=...}, values may end in k, m or g); the {@code with...} methods override
 * them in code. docs/SECURITY.md lists them all.
 *
 * @param maxZipEntries    entries in the zip central directory (each costs ~150 bytes of heap)
 *                         ({@code skipjack.limit.zipEntries}, default 262 144)
 * @param maxInflatedBytes all deflated zip entries of one archive together, uncompressed (off-heap)
 *                         ({@code skipjack.limit.inflatedBytes}, default 8 GiB)
 * @param maxDeflateRatio  uncompressed / compressed size of one deflated entry; real tensors compress ~1.1x
 *                         ({@code skipjack.limit.deflateRatio}, default 200)
 * @param maxPickleBytes   size of the object pickle (data.pkl) ({@code skipjack.limit.pickleBytes}, default 256 MiB)
 * @param maxValues        values the unpickler may create or insert into containers (each costs heap)
 *                         ({@code skipjack.limit.pickleValues}, default 4 Mi)
 * @param maxMarkDepth     nested MARKs, the pickle's nesting depth ({@code skipjack.limit.pickleDepth}, default 65 536)
 * @param maxMemoEntries   entries in the unpickler's memo ({@code skipjack.limit.memoEntries}, default 1 Mi)
 * @param maxStringBytes   one string, bytes object or integer literal ({@code skipjack.limit.stringBytes},
 *                         default 64 MiB)
 * @param maxTensorBytes   one tensor gathered into new memory (a strided view or a dtype conversion)
 *                         ({@code skipjack.limit.tensorBytes}, default 2 GiB)
 * @param maxTensors       tensors in the state_dict ({@code skipjack.limit.tensors}, default 65 536; ResNet-152
 *                         has about 1 000)
 */
public record Limits(int maxZipEntries, long maxInflatedBytes, int maxDeflateRatio, long maxPickleBytes,
        int maxValues, int maxMarkDepth, int maxMemoEntries, int maxStringBytes, long maxTensorBytes,
        int maxTensors) {

    public static final String ZIP_ENTRIES = "skipjack.limit.zipEntries";
    public static final String INFLATED_BYTES = "skipjack.limit.inflatedBytes";
    public static final String DEFLATE_RATIO = "skipjack.limit.deflateRatio";
    public static final String PICKLE_BYTES = "skipjack.limit.pickleBytes";
    public static final String PICKLE_VALUES = "skipjack.limit.pickleValues";
    public static final String PICKLE_DEPTH = "skipjack.limit.pickleDepth";
    public static final String MEMO_ENTRIES = "skipjack.limit.memoEntries";
    public static final String STRING_BYTES = "skipjack.limit.stringBytes";
    /** Shared with the model file reader ({@link ReadLimits}): one tensor's bytes. */
    public static final String TENSOR_BYTES = ReadLimits.TENSOR_BYTES_PROPERTY;
    /** Shared with the model file reader ({@link ReadLimits}): tensors in one file. */
    public static final String TENSORS = ReadLimits.TENSORS_PROPERTY;

    public Limits {
        if (maxZipEntries < 1 || maxInflatedBytes < 1 || maxDeflateRatio < 1 || maxPickleBytes < 1 || maxValues < 1
                || maxMarkDepth < 1 || maxMemoEntries < 1 || maxStringBytes < 1 || maxTensorBytes < 1
                || maxTensors < 1) {
            throw new IllegalArgumentException("every limit must be positive: " + this);
        }
    }

    /**
     * Generous for any ResNet checkpoint (ResNet-152: ~1 000 entries, a 60 KB pickle, ~50 000 values, largest
     * tensor 9 MB) and still bounded; each overridden by its system property where that is set.
     */
    public static Limits defaults() {
        int i = Integer.MAX_VALUE;
        long l = Long.MAX_VALUE;
        return new Limits(
                (int) ReadLimits.property(ZIP_ENTRIES, 1 << 18, i),
                ReadLimits.property(INFLATED_BYTES, 8L << 30, l),
                (int) ReadLimits.property(DEFLATE_RATIO, 200, i),
                ReadLimits.property(PICKLE_BYTES, 256L << 20, l),
                (int) ReadLimits.property(PICKLE_VALUES, 1 << 22, i),
                (int) ReadLimits.property(PICKLE_DEPTH, 1 << 16, i),
                (int) ReadLimits.property(MEMO_ENTRIES, 1 << 20, i),
                (int) ReadLimits.property(STRING_BYTES, 64 << 20, i),
                ReadLimits.property(TENSOR_BYTES, 2L << 30, l),
                (int) ReadLimits.property(TENSORS, 1 << 16, i));
    }

    public Limits withMaxZipEntries(int n) {
        return new Limits(n, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes, maxTensors);
    }

    public Limits withMaxInflatedBytes(long n) {
        return new Limits(maxZipEntries, n, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes, maxTensors);
    }

    public Limits withMaxDeflateRatio(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, n, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes, maxTensors);
    }

    public Limits withMaxPickleBytes(long n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, n, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes, maxTensors);
    }

    public Limits withMaxValues(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, n, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes, maxTensors);
    }

    public Limits withMaxMarkDepth(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, n,
                maxMemoEntries, maxStringBytes, maxTensorBytes, maxTensors);
    }

    public Limits withMaxMemoEntries(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                n, maxStringBytes, maxTensorBytes, maxTensors);
    }

    public Limits withMaxStringBytes(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, n, maxTensorBytes, maxTensors);
    }

    public Limits withMaxTensorBytes(long n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, n, maxTensors);
    }

    public Limits withMaxTensors(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes, n);
    }
}
