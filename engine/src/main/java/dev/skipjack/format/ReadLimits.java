package dev.skipjack.format;

/**
 * Bounds on what an untrusted model file may make the reader allocate, on top of the checks against the file
 * itself (every offset and length lies inside it). Each limit has a built-in default that a user can override
 * with a system property (read when {@link #defaults()} is called) or programmatically with the
 * {@code with...} methods; docs/SECURITY.md lists them all.
 *
 * @param maxHeaderBytes the protobuf header (names, shapes, labels); ResNet-152's is about 60 KB
 *                       ({@value #HEADER_BYTES_PROPERTY}, default 16 MiB)
 * @param maxTensors     tensors declared in the header; ResNet-152 has about 1 000
 *                       ({@value #TENSORS_PROPERTY}, default 65 536)
 * @param maxTensorBytes bytes of one tensor; the largest torchvision ResNet tensor is under 40 MB
 *                       ({@value #TENSOR_BYTES_PROPERTY}, default 2 GiB)
 */
public record ReadLimits(int maxHeaderBytes, int maxTensors, long maxTensorBytes) {
    public static final String HEADER_BYTES_PROPERTY = "skipjack.limit.headerBytes";
    public static final String TENSORS_PROPERTY = "skipjack.limit.tensors";
    public static final String TENSOR_BYTES_PROPERTY = "skipjack.limit.tensorBytes";

    public ReadLimits {
        if (maxHeaderBytes < 1 || maxTensors < 1 || maxTensorBytes < 1) {
            throw new IllegalArgumentException("read limits must be positive, got header " + maxHeaderBytes
                    + " bytes, " + maxTensors + " tensors, " + maxTensorBytes + " bytes per tensor");
        }
    }

    /** The built-in defaults, each replaced by its system property where that is set. */
    public static ReadLimits defaults() {
        return new ReadLimits(
                (int) property(HEADER_BYTES_PROPERTY, 16 << 20, Integer.MAX_VALUE),
                (int) property(TENSORS_PROPERTY, 1 << 16, Integer.MAX_VALUE),
                property(TENSOR_BYTES_PROPERTY, 2L << 30, Long.MAX_VALUE));
    }

    public ReadLimits withMaxHeaderBytes(int n) {
        return new ReadLimits(n, maxTensors, maxTensorBytes);
    }

    public ReadLimits withMaxTensors(int n) {
        return new ReadLimits(maxHeaderBytes, n, maxTensorBytes);
    }

    public ReadLimits withMaxTensorBytes(long n) {
        return new ReadLimits(maxHeaderBytes, maxTensors, n);
    }

    /**
     * A limit from system property {@code key}, or {@code builtIn} where it is not set. The value is a positive
     * integer up to {@code max}, optionally with a binary suffix k, m or g ("512m"); anything else is an
     * {@link IllegalArgumentException} naming the property, so a typo never silently means "no limit".
     */
    public static long property(String key, long builtIn, long max) {
        String raw = System.getProperty(key);
        if (raw == null || raw.isBlank()) {
            return builtIn;
        }
        String s = raw.strip().toLowerCase(java.util.Locale.ROOT);
        int shift = switch (s.charAt(s.length() - 1)) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            default -> 0;
        };
        if (shift != 0) {
            s = s.substring(0, s.length() - 1);
        }
        long v;
        try {
            v = Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("system property " + key + "='" + raw
                    + "' is not a positive integer (optionally with k, m or g)", e);
        }
        if (v < 1 || v > max >> shift) {
            throw new IllegalArgumentException("system property " + key + "='" + raw + "' must be in [1, " + max
                    + "]");
        }
        return v << shift;
    }
}
