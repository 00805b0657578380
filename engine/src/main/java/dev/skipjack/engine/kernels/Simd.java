package dev.skipjack.engine.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector shape every kernel uses, fixed at class initialization so C2 sees a constant.
 *
 * <p>Defaults to {@link FloatVector#SPECIES_PREFERRED} (256 bits on AVX2, 512 on AVX-512). The system
 * property {@code skipjack.vector.species} overrides it with a width in bits: {@code 64}, {@code 128},
 * {@code 256}, {@code 512}, or {@code preferred}. A width the CPU lacks still runs, but slowly (the Vector
 * API falls back to Java code), so it is for tests and comparisons only.
 */
public final class Simd {
    /** The float species of all kernels. */
    public static final VectorSpecies<Float> FLOAT = choose(System.getProperty("skipjack.vector.species", "preferred"));
    /** Lanes of {@link #FLOAT}. */
    public static final int LANES = FLOAT.length();

    static final boolean PRELOAD = !"false".equals(System.getProperty("skipjack.preloadHeapSegments"));

    /** {@code bytes} rounded up to a multiple of 64 (a cache line; every buffer and scratch part starts on one). */
    public static long align64(long bytes) {
        return (bytes + 63) & ~63L;
    }

    static {
        // Every kernel class reads FLOAT, so this runs before any kernel does (tests and users of single kernels
        // included, not only models, whose warm-up calls it too).
        preloadHeapSegmentClasses();
    }

    /**
     * Loads the JDK's classes of segments over Java arrays, one per array type, before any kernel is compiled
     * (unless {@code -Dskipjack.preloadHeapSegments=false}). The kernels only ever see off-heap segments, and
     * while no array segment exists C2 compiles every segment access assuming off-heap (and mapped) segments are
     * the only kinds. The first array segment anywhere in the process ({@code MemorySegment.ofArray},
     * {@code toArray}, a segment over a heap buffer) then throws all that code away at once: ResNet-18's next
     * call took 0.8-2 s instead of 21-25 ms, and the 15 after it two to four times as long, while C2 compiled
     * everything again. (A first mapped file after a seeded model's warm-up deoptimized a dozen of them too,
     * 60 ms over the next calls; with the array classes loaded first, none: ArraySegmentDeoptTest maps one.)
     * Worse, ConvNhwc's micro-kernel, recompiled after such a deoptimization from a thin profile, in some runs
     * came back with its vectors boxed: gigabytes allocated per inference (AllocationFreeTest, after unit tests
     * that ran kernels before any array segment existed).
     */
    static void preloadHeapSegmentClasses() {
        if (!PRELOAD) {
            return;
        }
        MemorySegment.ofArray(new byte[1]);
        MemorySegment.ofArray(new char[1]);
        MemorySegment.ofArray(new short[1]);
        MemorySegment.ofArray(new int[1]);
        MemorySegment.ofArray(new float[1]);
        MemorySegment.ofArray(new long[1]);
        MemorySegment.ofArray(new double[1]);
    }
    /**
     * For {@code a.rearrange(EVEN, b)}: lane i takes element 2i of the 2L-element concatenation of a and b
     * (an exceptional index -L + j takes element j of b); {@link #ODD} takes element 2i + 1. Stride-2 reads
     * (phase planes, pooling) become two contiguous loads and one rearrange.
     */
    static final VectorShuffle<Float> EVEN = deinterleave(0);
    static final VectorShuffle<Float> ODD = deinterleave(1);
    /**
     * The inverse, for {@code a.rearrange(ZIP_LO, b)}: a[0], b[0], a[1], b[1], ... from the lower halves of a
     * and b; {@link #ZIP_HI} the same from their upper halves.
     */
    static final VectorShuffle<Float> ZIP_LO = interleave(0);
    static final VectorShuffle<Float> ZIP_HI = interleave(LANES / 2);

    private Simd() {
    }

    // Rotations by L/2, L/4, ... lanes (null where L is too small): lane i takes lane (i + by) mod L.
    private static final VectorShuffle<Float> ROT1 = rotation(LANES / 2), ROT2 = rotation(LANES / 4);
    private static final VectorShuffle<Float> ROT3 = rotation(LANES / 8), ROT4 = rotation(LANES / 16);

    /**
     * The sum of the lanes, always in the same order: the upper half added onto the lower, halving until one
     * lane is left. {@code reduceLanes(ADD)} leaves the order to the implementation, and HotSpot's differs
     * between the interpreter (lane by lane) and C2 (a tree, on AVX-512), so one input gave results an ulp
     * apart before and after the kernel was compiled: not bit-identical from call to call. The halves meet
     * through constant rotations (lane 0 gets lane 0 + lane L/2, and so on; the upper lanes' sums are never
     * read): {@code slice} computed the same but was not always compiled to vector code, and then allocated.
     */
    public static float sumLanes(FloatVector v) {
        v = v.add(v.rearrange(ROT1));
        if (ROT2 != null) {
            v = v.add(v.rearrange(ROT2));
        }
        if (ROT3 != null) {
            v = v.add(v.rearrange(ROT3));
        }
        if (ROT4 != null) {
            v = v.add(v.rearrange(ROT4));
        }
        return v.lane(0);
    }

    private static VectorShuffle<Float> rotation(int by) {
        return by < 1 ? null : VectorShuffle.iota(FLOAT, by, 1, true);
    }

    private static VectorShuffle<Float> deinterleave(int odd) {
        int[] idx = new int[LANES];
        for (int i = 0; i < LANES; i++) {
            int e = 2 * i + odd;
            idx[i] = e < LANES ? e : e - 2 * LANES;
        }
        return VectorShuffle.fromArray(FLOAT, idx, 0);
    }

    private static VectorShuffle<Float> interleave(int from) {
        int[] idx = new int[LANES];
        for (int k = 0; k < LANES; k++) {
            idx[k] = (k & 1) == 0 ? from + k / 2 : from + k / 2 - LANES;
        }
        return VectorShuffle.fromArray(FLOAT, idx, 0);
    }

    static VectorSpecies<Float> choose(String name) {
        return switch (name.trim()) {
            case "", "preferred" -> FloatVector.SPECIES_PREFERRED;
            case "64" -> FloatVector.SPECIES_64;
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException(
                    "skipjack.vector.species must be 64, 128, 256, 512 or preferred, got '" + name + "'");
        };
    }
}
