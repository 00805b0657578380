package dev.skipjack.weights;

/**
 * Bounds on what an untrusted checkpoint may make the converter do. Every size read from the file is checked
 * against the file itself first; these limits additionally cap what a well-formed but hostile file could ask
 * for (a zip with millions of entries, a deflate bomb, a pickle that fills the memo).
 *
 * @param maxZipEntries    entries in the zip central directory
 * @param maxInflatedBytes uncompressed size of one deflated zip entry (inflated entries live off-heap)
 * @param maxDeflateRatio  uncompressed / compressed size of one deflated entry; real tensors compress ~1.1x
 * @param maxPickleBytes   size of the object pickle (data.pkl)
 * @param maxValues        values the unpickler may create or insert into containers (each costs heap)
 * @param maxMarkDepth     nested MARKs
 * @param maxMemoEntries   entries in the unpickler's memo
 * @param maxStringBytes   one string, bytes object or integer literal
 */
public record Limits(int maxZipEntries, long maxInflatedBytes, int maxDeflateRatio, long maxPickleBytes,
        int maxValues, int maxMarkDepth, int maxMemoEntries, int maxStringBytes) {

    /** Generous for any ResNet checkpoint (ResNet-152: ~1 000 entries, a 60 KB pickle) and still bounded. */
    public static Limits defaults() {
        return new Limits(1 << 20, 4L << 30, 200, 256L << 20, 1 << 22, 1 << 16, 1 << 20, 64 << 20);
    }

    public Limits withMaxZipEntries(int n) {
        return new Limits(n, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes);
    }

    public Limits withMaxInflatedBytes(long n) {
        return new Limits(maxZipEntries, n, maxDeflateRatio, maxPickleBytes, maxValues, maxMarkDepth,
                maxMemoEntries, maxStringBytes);
    }

    public Limits withMaxMemoEntries(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, maxValues,
                maxMarkDepth, n, maxStringBytes);
    }

    public Limits withMaxValues(int n) {
        return new Limits(maxZipEntries, maxInflatedBytes, maxDeflateRatio, maxPickleBytes, n, maxMarkDepth,
                maxMemoEntries, maxStringBytes);
    }
}
