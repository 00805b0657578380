package dev.skipjack.weights;

/**
 * Bounds on what an untrusted checkpoint may make the converter do. Every size read from the file is checked
 * against the file itself first; these limits additionally cap what a well-formed but hostile file could ask
 * for (a zip with millions of entries, a deflate bomb, a pickle that fills the memo, a tensor view that
 * broadcasts one element to terabytes).
 *
 * @param maxZipEntries    entries in the zip central directory (each costs ~150 bytes of heap)
 * @param maxInflatedBytes all deflated zip entries of one archive together, uncompressed (off-heap)
 * @param maxDeflateRatio  uncompressed / compressed size of one deflated entry; real tensors compress ~1.1x
 * @param maxPickleBytes   size of the object pickle (data.pkl)
 * @param maxValues        values the unpickler may create or insert into containers (each costs heap)
 * @param maxMarkDepth     nested MARKs
 * @param maxMemoEntries   entries in the unpickler's memo
 * @param maxStringBytes   one string, bytes object or integer literal
 * @param maxTensorBytes   one tensor gathered into new memory (a strided view or a dtype conversion)
 */
public record Limits(int maxZipEntries, long maxInflatedBytes, int maxDeflateRatio, long maxPickleBytes,
        int maxValues, int maxMarkDepth, int maxMemoEntries, int maxStringBytes, long maxTensorBytes) {

    /**
     * Generous for any ResNet checkpoint (ResNet-152: ~1 000 entries, a 60 KB pickle, ~50 000 values, largest
     * tensor 9 MB) and still bounded.
     */
    public static Limits defaults() {
        return new Limits(1 << 18, 8L << 30, 200, 256L << 20, 1 << 22, 1 << 16, 1 << 20, 64 << 20, 2L << 30);
    }

    public Limits withMaxZipEntries(int n) {
        return new Limits(n, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes);
    }

    public Limits withMaxInflatedBytes(long n) {
        return new Limits(maxZipEntries, n, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes);
    }

    public Limits withMaxValues(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, n, maxMarkDepth,
                maxMemoEntries, maxStringBytes, maxTensorBytes);
    }

    public Limits withMaxMemoEntries(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                n, maxStringBytes, maxTensorBytes);
    }

    public Limits withMaxTensorBytes(long n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes, n);
    }
}
