package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.Gemm.F32;
import static dev.skipjack.engine.kernels.Gemm.LE;

import dev.skipjack.engine.runtime.Parallel;
import dev.skipjack.engine.runtime.Shares;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3x3, stride 1, padding 1 convolution of channels-last activations by Winograd's F(m x m, 3x3), m = 2 or 4:
 * each m x m block of outputs ("tile") is computed from its (m + 2) x (m + 2) input window in a transformed
 * domain where the convolution is (m + 2)^2 independent products over the input channels. F(2x2) does 16
 * multiplies per tile and input channel where the direct sum does 36 (2.25 times fewer), F(4x4) 36 where the
 * direct sum does 144 (4 times fewer).
 *
 * <p>Layouts: in, out and the residual as {@link ConvNhwc}'s: NHWC {@code [n][h][w][c]}, and after the input
 * one pixel of zeros (padding taps read it); this writes the zero pixel after out. The transformed weights
 * U = G g G^T are packed at construction {@code [panel][pos][cin][NRC]} (or by pairs of panels, below; pos =
 * i * a + j over the a x a transformed positions, a = m + 2; NRC output channels of a panel interleaved along the
 * depth), 16/9 (m = 2) or
 * 4 (m = 4) times the size of the weights. A panel's positions are contiguous because its GEMMs walk them in
 * order: one stream from memory per panel. Packed {@code [pos][panel]}, a panel was a^2 blocks of cin x NRC
 * floats a layer's U / a^2 apart, and with U out of cache (16 copies of the layer cycled, both builds
 * alternating in one process, 2 threads) the layers ran 0.80-0.85 (128 channels at 28x28), 0.86-0.89 (256 at
 * 14x14) and 0.91-0.95 (64 at 56x56) of the time; with U in cache within noise (0.96-1.01). Whole ResNet-18
 * passes 0.966-0.976 of the time, ResNet-50 0.998.
 *
 * <p>Each thread takes a share of the chunks of tiles ({@link Shares}: consecutive tiles, a chunk's V at most
 * {@link #CHUNK_BYTES}; the rows a thread wrote in the layer before, where that layer split its pixels alike) and
 * does all of it in its own slot of the scratch, with no barrier between the steps (where all the tiles fit one
 * chunk of {@link #GROUP_CHUNK_BYTES}, the threads transform a share of its tiles each into one V and, after a
 * barrier, take a share each of its output-channel columns, each column in two halves of its tiles where the
 * positions are not outermost: the other thread takes over a half, not a whole column, at the end. ResNet-18's
 * 28x28 layers, 4 columns, timed inside passes: the thread done first waited 0.06-0.09 ms a layer for the other
 * instead of 0.14-0.17):
 * <ol>
 *   <li>input transform: V = B^T d B for every tile and channel vector (channels along the vector, so the
 *       transform is plain vector adds), into {@code V [tile][pos][cin]}, columns first and then each row in
 *       place;</li>
 *   <li>for each panel of NRC output channels and each register tile of its rows (7 tiles, or 6 where that
 *       covers the chunk exactly): the a^2 GEMMs {@code M[.][pos] = V[.][pos] x U[panel][pos]} into
 *       {@code M [MP][pos][NRC]}, on ConvNhwc's micro-kernel (tiles broadcast, output channels along the
 *       vector), and at once the output transform Y = A^T M A of those tiles, plus bias and residual, ReLU,
 *       into out. Where the GEMMs take pairs of panels ({@link #wide}: 16 lanes, up to {@link #PAIRS_MAX_CIN}
 *       input channels), a column is 64 output channels, U is packed {@code [pair][pos][cin][64]}, the register
 *       tile is 6 tiles on ConvNhwc's 6x4 kernel, M {@code [6][pos][64]}, and chunks start at multiples of 6
 *       tiles.</li>
 * </ol>
 * Three passes over the whole layer with a barrier after each ran the 56x56 layers up to 3 times slower: a
 * thread's GEMMs read V that the other core had written, and its output transform the other core's M. The
 * GEMMs of a whole chunk before its output transform (M for the chunk's tiles, up to 450 KB a panel, out of L1
 * by the time it was read): single layers with 2 threads 0.82-0.88 (56x56, 14x14) and 0.93-1.0 (28x28) of the
 * time, whole passes (two engines alternating) ResNet-18 0.94 and ResNet-50 0.92.
 *
 * <p>Accuracy: the transforms of F(4x4) multiply by up to 8 and the weight transform divides by 24, so the
 * rounding grows with the magnitudes inside the transformed domain; the filter transform runs in double.
 * ReferenceModelTest holds whole networks to the float64 reference.
 */
public final class WinogradNhwc implements ConvKernel {
    private static final VectorSpecies<Float> S = Gemm.S;
    private static final int L = Gemm.L;
    private static final long VB = Gemm.VB;
    private static final int MP = ConvNhwc.MP;
    private static final int NRC = ConvNhwc.NRC;
    /**
     * Whether a layer whose tiles all fit one chunk splits its output channels across the threads instead of its
     * tiles (see {@link #groups}). Two engines alternating: ResNet-18 6.5% and ResNet-50 3.9% faster
     * (the 14x14 F(2x2) layers: 49 tiles, one chunk; before, two chunks of 25 and 24 tiles, each thread
     * streaming all 4.2 MB of U). Each thread takes a share of the panels, the other's last ones when it is done
     * ({@link Shares}; fixed halves without that, a thread on a slower core (this host's cores differ from minute
     * to minute) kept the other waiting 0.07-0.11 ms a layer in ResNet-18's 28x28 and 14x14 layers). The chunk's
     * input is transformed once, a share of its tiles per thread
     * into slot 0's V, and read by all after a barrier: each such layer timed inside whole passes (both builds
     * alternating in one process, both orders) ran in 0.84-0.95 (28x28 F(4x4)) and 0.90-0.91 (14x14 F(2x2)) of
     * the time of every thread transforming all of it into its own V; alone (hot) within noise. For experiments.
     */
    static final boolean PANEL_GROUPS = !"false".equals(System.getProperty("skipjack.winograd.panelGroups"));
    /** Most bytes of a chunk's V (positions x tiles x cin floats), so that it stays in L2 with the rest. */
    static final long CHUNK_BYTES = Long.getLong("skipjack.winograd.chunkBytes", 512 * 1024);
    /**
     * Most bytes of V for which the threads share one chunk's panels rather than split its tiles. At 1 MB
     * (ResNet-18's 28x28 F(4x4) layers, 903 KB) ResNet-18 ran 5.7% faster at batch 1 than with chunks of
     * {@link #CHUNK_BYTES}, at 2 MB (the 56x56 ones too) 7% slower than at 1 MB; as the chunk size everywhere,
     * 1 MB cost ResNet-50 1.3% at batch 8.
     */
    static final long GROUP_CHUNK_BYTES = Long.getLong("skipjack.winograd.groupChunkBytes", 1024 * 1024);

    /**
     * Input channels from which a panel's GEMMs run position by position over all the chunk's register tiles
     * where the layer has no more chunks than threads, so that U comes from memory once a call (see
     * {@link Job#panel}). For experiments.
     */
    static final int POSITIONS_OUTER_CIN = Integer.getInteger("skipjack.winograd.positionsOuterCin", 256);

    /**
     * Most input channels for which {@link #WinogradNhwc(ConvShape, int, MemorySegment, MemorySegment, Arena)}
     * runs the GEMMs on pairs of panels ({@link #wide}). One layer alone, 2 threads, pairs / one panel: 64
     * channels at 56x56 (chunks of tiles) 0.96-1.0 (one thread 0.77-0.97); 128 at 28x28 and 256 at 14x14, where
     * the threads share one chunk of 49 tiles (9 register tiles of 6 where there were 7 of 7, and half as many
     * columns to share), 1.03-1.14 and 1.03-1.05; with many tiles (the batch-8 sizes) 0.78-0.80, 0.85-0.91 and
     * 0.86-0.91. Inside whole passes (the layers timed in passes, both settings alternating in one process, both
     * orders), the 64-channel layers with pairs: ResNet-18 batch 8 0.89-0.96 and 0.97-1.0 of the time, ResNet-50
     * batch 8 0.955-0.97 and 0.93-0.96, ResNet-18 batch 1 0.97-1.0. The property is for experiments (0: never).
     */
    static final int PAIRS_MAX_CIN = Integer.getInteger("skipjack.winograd.pairsMaxCin", 64);

    private final ConvShape shape;
    private final int m, a, positions, cin, cout;
    /**
     * Whether the GEMMs run on {@link ConvNhwc#kernel6x4}, 6 tiles by 64 output channels (a column is then two
     * panels, U packed 64 channels wide), where the vectors have 16 lanes and cout is a multiple of 64; else on
     * ConvNhwc's 7x2 (or 6x2) tile, a column one panel. Per depth step 10 loads for 24 FMAs against 9 for 14,
     * and six consecutive tiles of V a fixed stride apart, so no row table (see {@link #PAIRS_MAX_CIN}).
     */
    private final boolean wide;
    /** Output channels per column (what a GEMM call and a claimed task cover): 2 NRC where wide, else NRC. */
    private final int width;
    /** cout / width. */
    private final int columns;
    /** Tiles per register tile where wide ({@link ConvNhwc#WP}); else MP (see {@link #sixes}). */
    private final int tileRows;
    /** Whether a panel's GEMMs may run with the positions outermost; the scratch's M then holds a whole chunk. */
    private final boolean positionsOuter;
    // [columns][positions][cin][width]
    private final MemorySegment packedU;
    // [cout]
    private final MemorySegment bias;
    private final Job job = new Job();
    private final InputJob inputJob = new InputJob();

    /**
     * Transforms and packs the weights once into {@code arena}.
     *
     * @param shape  3x3, stride 1, padding 1, one group, cin a multiple of the vector length and cout of
     *               {@link ConvNhwc#NRC} (see {@link #supports})
     * @param m      output tile size, 2 or 4
     * @param weight [cout][cin][3][3] float32 (OIHW, batch norm folded in); may be read-only
     * @param bias   [cout] float32; may be read-only
     */
    public WinogradNhwc(ConvShape shape, int m, MemorySegment weight, MemorySegment bias, Arena arena) {
        this(shape, m, shape.cin() <= PAIRS_MAX_CIN, weight, bias, arena);
    }

    /**
     * As {@link #WinogradNhwc(ConvShape, int, MemorySegment, MemorySegment, Arena)}, the GEMMs on pairs of panels
     * where {@code pairs} and the vectors and cout allow (16 lanes, cout a multiple of 2 {@link ConvNhwc#NRC}).
     */
    public WinogradNhwc(ConvShape shape, int m, boolean pairs, MemorySegment weight, MemorySegment bias,
                        Arena arena) {
        if (!supports(shape)) {
            throw new IllegalArgumentException("WinogradNhwc cannot run " + shape + ": it needs a 3x3 kernel, stride 1, "
                    + "padding 1, one group, cin a multiple of " + L + " and cout a multiple of " + NRC);
        }
        if (m != 2 && m != 4) {
            throw new IllegalArgumentException("WinogradNhwc " + shape + ": output tile must be 2 or 4, got " + m);
        }
        this.shape = shape;
        this.m = m;
        this.a = m + 2;
        this.positions = a * a;
        this.cin = shape.cin();
        this.cout = shape.cout();
        this.wide = pairs && L >= 16 && cout % (2 * NRC) == 0;
        this.width = wide ? 2 * NRC : NRC;
        this.columns = cout / width;
        this.tileRows = wide ? ConvNhwc.WP : MP;
        this.positionsOuter = cin >= POSITIONS_OUTER_CIN;
        shape.requireWeights("WinogradNhwc", weight, bias);
        this.bias = arena.allocate(cout * 4L, 64);
        MemorySegment.copy(bias, 0, this.bias, 0, cout * 4L);
        this.packedU = arena.allocate((long) positions * cout * cin * 4, 64);
        // Column by column: its width filters into an array, transformed, each position's [cin][width] block copied
        // out.
        double[][] gm = m == 2 ? G2 : G4;
        float[] rows = new float[width * cin * 9];
        float[][] blocks = new float[positions][cin * width];
        double[] u = new double[positions];
        double[] t = new double[a * 3];
        for (int p = 0; p < columns; p++) {
            MemorySegment.copy(weight, ValueLayout.JAVA_FLOAT_UNALIGNED, (long) p * width * cin * 9 * 4, rows, 0,
                    width * cin * 9);
            for (int c = 0; c < width; c++) {
                for (int ci = 0; ci < cin; ci++) {
                    filterTransform(gm, rows, (c * cin + ci) * 9, u, t);
                    for (int pos = 0; pos < positions; pos++) {
                        blocks[pos][ci * width + c] = (float) u[pos];
                    }
                }
            }
            for (int pos = 0; pos < positions; pos++) {
                MemorySegment.copy(blocks[pos], 0, packedU, ValueLayout.JAVA_FLOAT_UNALIGNED,
                        ((long) p * positions + pos) * cin * width * 4, cin * width);
            }
        }
    }

    /** Whether this kernel can run {@code shape}; see the constructor. */
    public static boolean supports(ConvShape s) {
        return s.kernel() == 3 && s.stride() == 1 && s.pad() == 1 && s.groups() == 1 && s.cin() % L == 0
                && s.cout() % NRC == 0;
    }

    // G for F(2x2, 3x3) (interpolation points 0, 1, -1, infinity) and F(4x4, 3x3) (0, 1, -1, 2, -2, infinity).
    private static final double[][] G2 = {
        {1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    private static final double[][] G4 = {
        {1.0 / 4, 0, 0},
        {-1.0 / 6, -1.0 / 6, -1.0 / 6},
        {-1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6},
        {1.0 / 24, -1.0 / 12, 1.0 / 6},
        {0, 0, 1}};

    /** u [a][a] = G g G^T for the 3x3 filter g at rows[at..at + 9); t: 3a doubles of scratch. */
    private static void filterTransform(double[][] gm, float[] rows, int at, double[] u, double[] t) {
        int a = gm.length;
        for (int i = 0; i < a; i++) { // t = G g: [a][3]
            for (int c = 0; c < 3; c++) {
                t[i * 3 + c] = gm[i][0] * rows[at + c] + gm[i][1] * rows[at + 3 + c] + gm[i][2] * rows[at + 6 + c];
            }
        }
        for (int i = 0; i < a; i++) { // u = t G^T
            for (int j = 0; j < a; j++) {
                u[i * a + j] = t[i * 3] * gm[j][0] + t[i * 3 + 1] * gm[j][1] + t[i * 3 + 2] * gm[j][2];
            }
        }
    }

    @Override
    public ConvShape shape() {
        return shape;
    }

    /** The packed weights (the transformed weights). */
    @Override
    public MemorySegment weights() {
        return packedU;
    }

    @Override
    public String algorithm() {
        return "WINOGRAD" + m + "-NHWC";
    }

    /** Output tile size m of F(m x m, 3x3). */
    public int tileSize() {
        return m;
    }

    /**
     * Tiles per chunk for an input of n x h x w on that many threads: the tiles are cut into at least one chunk
     * per thread (sizes within one of each other) and into chunks whose V fits {@link #CHUNK_BYTES}.
     */
    private int chunks(int n, int h, int w, int threads) {
        if (groups(n, h, w, threads) > 1) {
            return 1;
        }
        long tiles = (long) n * ((h + m - 1) / m) * ((w + m - 1) / m);
        long fit = Math.max(tileRows, CHUNK_BYTES / ((long) positions * cin * 4));
        long chunks = Math.max((tiles + fit - 1) / fit, Math.min(tiles, Math.max(1, threads)));
        return (int) Math.min(chunks, Integer.MAX_VALUE);
    }

    /**
     * Threads that share the layer's one chunk: all of them where all the tiles' V fits {@link #GROUP_CHUNK_BYTES}
     * (they transform the input together and each then streams only the panels of U it claims), else one (chunks
     * of tiles, {@link #CHUNK_BYTES} of V each).
     */
    private int groups(int n, int h, int w, int threads) {
        long tiles = (long) n * ((h + m - 1) / m) * ((w + m - 1) / m);
        boolean oneChunk = tiles * positions * cin * 4 <= GROUP_CHUNK_BYTES;
        return PANEL_GROUPS && threads > 1 && oneChunk && columns >= threads ? threads : 1;
    }

    /**
     * Most tiles in a chunk, rounded up to whole register tiles (where wide, the chunks start at multiples of
     * {@link #tileRows} tiles, so that only the last has a partial register tile: one more register tile's worth).
     */
    private int chunkRows(int n, int h, int w, int threads) {
        long tiles = (long) n * ((h + m - 1) / m) * ((w + m - 1) / m);
        int chunks = chunks(n, h, w, threads);
        long most = (tiles + chunks - 1) / chunks + (wide && chunks > 1 ? tileRows - 1 : 0);
        return (int) ((most + tileRows - 1) / tileRows * tileRows);
    }

    /**
     * Tiles in the first half of the one chunk the threads share ({@link #groups}): whole register tiles, at least
     * half of them; the second half's register tiles then end where the chunk's do (its V padded with zeros to them).
     */
    private int firstHalf(int tiles) {
        int registerTiles = (tiles + tileRows - 1) / tileRows;
        return Math.min(tiles, (registerTiles + 1) / 2 * tileRows);
    }

    /** The first tile of chunk c of {@code chunks} over {@code tiles} tiles (c = chunks: tiles). */
    private int chunkStart(int c, int chunks, int tiles) {
        int t = (int) ((long) tiles * c / chunks);
        return wide && c < chunks ? t / tileRows * tileRows : t;
    }

    // Scratch, per thread (a slot, its offsets below counted from the slot's base): V [rows][positions][cin],
    // M [tileRows][positions][width] (one register tile's; the chunk's, [rows][positions][width], where the
    // positions are outermost), the 7x2 GEMM's row table (MP ints; unused where wide), the transforms'
    // intermediate values (a^2 vectors). Where the threads share the one chunk (groups), only slot 0's V is used:
    // the slots' bases are then slotBytes - mOff apart, each slot's unused V overlapping the slot before it
    // (see slotStride).
    private long mOff(int rows) {
        return Simd.align64((long) rows * positions * cin * 4);
    }

    private long tableOff(int rows) {
        return mOff(rows) + Simd.align64((long) (positionsOuter ? rows : tileRows) * positions * width * 4);
    }

    private long tmpOff(int rows) {
        return tableOff(rows) + 64;
    }

    private long slotBytes(int rows) {
        return tmpOff(rows) + (long) positions * VB;
    }

    /**
     * Bytes from one thread's slot base to the next: a whole slot, or, where the threads share slot 0's V, a slot
     * without its V (the scratch is then that V and a slot's other parts per thread: 0.97 MB instead of 1.9 for
     * ResNet-18's 28x28 layers on 2 threads, 1.0 instead of 1.8 for its 14x14 ones).
     */
    private long slotStride(int rows, boolean sharedV) {
        return sharedV ? slotBytes(rows) - mOff(rows) : slotBytes(rows);
    }

    @Override
    public long scratchBytes(int n, int h, int w, int threads) {
        int rows = chunkRows(n, h, w, threads);
        return (long) (Math.max(1, threads) - 1) * slotStride(rows, groups(n, h, w, threads) > 1) + slotBytes(rows);
    }

    /**
     * {@code out = relu?(conv(in) + bias + residual)}, and the zero pixel after out.
     *
     * @param in       NHWC [n][h][w][cin] followed by a pixel of zeros
     * @param out      NHWC [n][h][w][cout] + one pixel; must not overlap {@code in}, the residual or scratch
     * @param residual null or NHWC [n][h][w][cout]
     * @param scratch  at least {@link #scratchBytes}{@code (n, h, w, par.threads())} bytes, 64-byte aligned
     */
    @Override
    public void forward(MemorySegment in, MemorySegment out, MemorySegment residual, boolean relu,
                        int n, int h, int w, MemorySegment scratch, Parallel par) {
        if (n < 1 || h < 1 || w < 1) {
            throw new IllegalArgumentException("WinogradNhwc " + shape + ": needs n, h, w >= 1, got n=" + n + " h="
                    + h + " w=" + w);
        }
        long pixels = (long) n * h * w;
        int threads = par.threads();
        long need = scratchBytes(n, h, w, threads);
        if (scratch.byteSize() < need) {
            throw new IllegalArgumentException("WinogradNhwc " + shape + ": scratch of " + scratch.byteSize()
                    + " bytes, needs " + need + " for n=" + n + " h=" + h + " w=" + w + " threads=" + threads);
        }
        if (in.byteSize() < (pixels + 1) * cin * 4 || out.byteSize() < (pixels + 1) * cout * 4
                || (residual != null && residual.byteSize() < pixels * cout * 4)) {
            throw new IllegalArgumentException("WinogradNhwc " + shape + ": for n=" + n + " h=" + h + " w=" + w
                    + " the input needs " + (pixels + 1) * cin + " floats (has " + in.byteSize() / 4 + "), the output "
                    + (pixels + 1) * cout + " (has " + out.byteSize() / 4 + ")"
                    + (residual == null ? "" : ", the residual " + pixels * cout + " (has " + residual.byteSize() / 4 + ")"));
        }
        if (need / 4 > Integer.MAX_VALUE) { // the micro-kernel takes int float offsets into the scratch
            throw new IllegalArgumentException("WinogradNhwc " + shape + ": n=" + n + " h=" + h + " w=" + w
                    + " needs more than 2^31 - 1 floats of scratch");
        }
        int th = (h + m - 1) / m, tw = (w + m - 1) / m;
        synchronized (job) {
            Job j = job;
            j.in = in;
            j.out = out;
            j.res = residual;
            j.relu = relu;
            j.scratch = scratch;
            j.h = h;
            j.w = w;
            j.th = th;
            j.tw = tw;
            j.tiles = n * th * tw;
            j.chunks = chunks(n, h, w, threads);
            j.groups = groups(n, h, w, threads);
            j.rows = chunkRows(n, h, w, threads);
            j.slotStride = slotStride(j.rows, j.groups > 1);
            j.outer = positionsOuter && j.chunks <= threads;
            j.zero = pixels * cin;
            // groups: per column two halves of the tiles (where the positions are outermost, a column)
            j.halves = j.outer ? 1 : 2;
            int items = j.groups > 1 ? columns * j.halves : j.chunks;
            j.shares.reset(items, Math.max(1, Math.min(threads, items)));
            try {
                if (j.groups > 1) { // the shared chunk's input transform, a share of its tiles per thread
                    par.forEach(j.groups, inputJob);
                }
                par.forEach(Math.min(threads, j.chunks * j.groups), j);
            } finally {
                j.in = j.out = j.res = j.scratch = null;
            }
            ConvNhwc.zeroPixel(out, pixels * cout, cout);
        }
    }

    /**
     * Where the threads share the layer's one chunk ({@link #groups}), its input transform before {@link Job}: part p
     * transforms a share of the tiles into slot 0's V (the last part also zeroes the rows up to a whole register
     * tile), with part p's slot for its window offsets. A task of its own, so that Job's compiled code is no larger
     * than before (with a phase flag in Job, two of five fresh-clone CI runs found vectors boxed, AllocationFreeTest).
     */
    private final class InputJob implements Parallel.Task {
        @Override
        public void run(int part) {
            Job j = job;
            int groups = j.groups, tiles = j.tiles;
            int t0 = (int) ((long) tiles * part / groups), t1 = (int) ((long) tiles * (part + 1) / groups);
            int r = tileRows;
            int padded = part == groups - 1 ? (tiles + r - 1) / r * r - t0 : t1 - t0;
            j.input(t0, t1 - t0, padded, (long) t0 * positions * cin * 4, part * j.slotStride);
        }
    }

    /**
     * One chunk of tiles at a time, claimed from {@link #next} (or, where the threads share the one chunk, its
     * panels), everything in the thread's slot of the scratch: V = B^T d B for the chunk's tiles; then per panel
     * of output channels the a^2 GEMMs into that panel's M, and Y = A^T M A with bias, residual and ReLU into out.
     */
    private final class Job implements Parallel.Task {
        MemorySegment in, out, res, scratch;
        boolean relu, outer;
        int h, w, th, tw, tiles, chunks, groups, rows, halves;
        long zero, slotStride;
        final Shares shares = new Shares();

        @Override
        public void run(int slot) {
            long base = slot * slotStride;
            // the 7x2 GEMM's row table: row i of a register tile is i tiles on in V
            for (int i = 0; !wide && i < MP; i++) {
                scratch.set(ValueLayout.JAVA_INT_UNALIGNED, base + tableOff(rows) + i * 4L, i * positions * cin);
            }
            if (groups > 1) { // one chunk, its V in slot 0's (InputJob): its columns, or halves of them, in turn
                int split = halves == 1 ? tiles : firstHalf(tiles);
                for (int item; (item = shares.claim(slot)) >= 0; ) {
                    int col = item / halves, t0 = item % halves == 0 ? 0 : split;
                    int count = item % halves == 0 ? split : tiles - split;
                    if (count > 0) {
                        panel(t0, count, (long) t0 * positions * cin * 4, base, col);
                    }
                }
                return;
            }
            for (int c; (c = shares.claim(slot)) >= 0; ) {
                int t0 = chunkStart(c, chunks, tiles), t1 = chunkStart(c + 1, chunks, tiles);
                input(t0, t1 - t0, (t1 - t0 + tileRows - 1) / tileRows * tileRows, base, base);
                for (int col = 0; col < columns; col++) {
                    panel(t0, t1 - t0, base, base, col);
                }
            }
        }

        /**
         * The GEMMs and output transforms of one panel of output channels for tiles t0 .. t0 + count, whose V the
         * slot holds: per register tile of rows its a^2 GEMMs into M, then at once its output transform, so that M
         * (MP tiles x a^2 x NRC floats) stays in L1. From {@link #POSITIONS_OUTER_CIN} input channels and in layers of
         * no more chunks than threads (batch 1), position by position instead, each over all the register tiles, and
         * then the output transforms: a position's block of U (cin x NRC floats, 32 KB at 256 channels) serves every
         * tile from L1 while the next comes from memory.
         * Tile by tile, every register tile walked the whole panel of U (16 blocks at F(2x2)), and the first one
         * fetched it from memory at the speed of the GEMM: 256 channels at 14x14 with weights out of cache, 2
         * threads, 0.914 of the time (1 thread, GEMMs alone: 0.68-0.72 ms against 0.84-0.89); at 128 channels
         * (28x28, F(4x4)) the same time, at 64 (56x56) 2% slower, M of 49 tiles out of L1.
         */
        private void panel(int t0, int count, long vBase, long base, int panel) {
            if (wide) {
                if (outer) {
                    pairByPosition(t0, count, vBase, base, panel);
                } else {
                    pairByTile(t0, count, vBase, base, panel);
                }
            } else if (outer) {
                panelByPosition(t0, count, vBase, base, panel);
            } else {
                panelByTile(t0, count, vBase, base, panel);
            }
        }

        /**
         * {@link #panelByPosition} where wide: column {@code pair} (two panels) on the 6x4 kernel, whose six rows
         * are six consecutive tiles of V (a fixed stride apart: no row table).
         */
        private void pairByPosition(int t0, int count, long vBase, long base, int pair) {
            long mp = base + mOff(rows);
            long lda = (long) positions * cin * 4, ldc = (long) positions * width * 4;
            long u = (long) pair * positions * cin * width * 4;
            for (int pos = 0; pos < positions; pos++, u += (long) cin * width * 4) {
                for (int r = 0; r < count; r += ConvNhwc.WP) {
                    long v = vBase + ((long) r * positions + pos) * cin * 4;
                    ConvNhwc.kernel6x4(scratch, v, lda, cin, packedU, u, scratch,
                            mp + ((long) r * positions + pos) * width * 4, ldc);
                }
            }
            output(t0, count, base, pair, 0);
        }

        /** {@link #panelByTile} where wide (see {@link #pairByPosition}). */
        private void pairByTile(int t0, int count, long vBase, long base, int pair) {
            long mp = base + mOff(rows);
            long lda = (long) positions * cin * 4, ldc = (long) positions * width * 4;
            for (int r = 0; r < count; r += ConvNhwc.WP) {
                long u = (long) pair * positions * cin * width * 4;
                for (int pos = 0; pos < positions; pos++, u += (long) cin * width * 4) {
                    long v = vBase + ((long) r * positions + pos) * cin * 4;
                    ConvNhwc.kernel6x4(scratch, v, lda, cin, packedU, u, scratch, mp + pos * width * 4L, ldc);
                }
                output(t0 + r, Math.min(ConvNhwc.WP, count - r), base, pair, 0);
            }
        }

        /** {@link #panel} with the positions outermost (two methods: each compiles on its own profile). */
        private void panelByPosition(int t0, int count, long vBase, long base, int panel) {
            int sixes = sixes(count);
            long mp = base + mOff(rows);
            long ldc = (long) positions * NRC * 4;
            long table = base + tableOff(rows);
            long u = (long) panel * positions * cin * NRC * 4;
            for (int pos = 0; pos < positions; pos++, u += (long) cin * NRC * 4) {
                for (int r = 0, six = Math.max(0, sixes); r < count; six--) {
                    int tr = six > 0 ? 6 : MP;
                    int vRow = (int) ((vBase + ((long) r * positions + pos) * cin * 4) / 4);
                    long c = mp + ((long) r * positions + pos) * NRC * 4;
                    ConvNhwc.kernel(tr, scratch, scratch, table, vRow, cin, packedU, u, scratch, c, ldc);
                    r += tr;
                }
            }
            for (int r = 0; r < count; r += MP) {
                output(t0 + r, Math.min(MP, count - r), base, panel, (long) r * positions * NRC * 4);
            }
        }

        /** {@link #panel} register tile by register tile. */
        private void panelByTile(int t0, int count, long vBase, long base, int panel) {
            int sixes = sixes(count);
            long mp = base + mOff(rows);
            long ldc = (long) positions * NRC * 4;
            long table = base + tableOff(rows);
            for (int r = 0, six = Math.max(0, sixes); r < count; six--) {
                int tr = six > 0 ? 6 : MP;
                long u = (long) panel * positions * cin * NRC * 4;
                for (int pos = 0; pos < positions; pos++, u += (long) cin * NRC * 4) {
                    int vRow = (int) ((vBase + ((long) r * positions + pos) * cin * 4) / 4);
                    ConvNhwc.kernel(tr, scratch, scratch, table, vRow, cin, packedU, u, scratch,
                            mp + pos * NRC * 4L, ldc);
                }
                output(t0 + r, Math.min(tr, count - r), base, panel, 0);
                r += tr;
            }
        }

        /** V [tile][pos][cin] = B^T d B for tiles t0.. of the chunk, zeros for its rows up to a whole tile. */
        private void input(int t0, int count, int padded, long vBase, long base) {
            long vStride = cin * 4L; // between positions
            for (int r = 0; r < padded; r++) {
                long v = vBase + (long) r * positions * cin * 4;
                if (r >= count) {
                    FloatVector z = FloatVector.zero(S);
                    for (int pos = 0; pos < positions; pos++) {
                        for (int c = 0; c < cin; c += L) {
                            z.intoMemorySegment(scratch, v + pos * vStride + c * 4L, LE);
                        }
                    }
                    continue;
                }
                int t = t0 + r;
                int img = t / (th * tw), q = t - img * th * tw, ty = q / tw, tx = q - ty * tw;
                int y0 = ty * m - 1, x0 = tx * m - 1;
                if (m == 4) {
                    input6(img, y0, x0, v);
                } else {
                    input4(img, y0, x0, v);
                }
            }
        }

        // The transforms' methods below each hold one transform, written out in a loop over its passes: C2 stops
        // inlining in a compiled method past a node count (NodeCountInliningCutoff, 18000), and a transform cut
        // there leaves its vectors on the heap (AllocationFreeTest: 11 MB per 20 inferences in one fresh-clone CI
        // run, where input() held four transform calls; in another, input6 itself, while it still read its window's
        // offsets from the scratch: 36 reads of some 700 nodes each). input6, input4 and output6 are over C2's
        // 325-bytecode limit for inlining (FreqInlineSize), so each compiles on its own; output4 is inlined into
        // output(), the one transform there.

        /**
         * One tile's V = B^T d B, F(4x4, 3x3): six column passes from the input window (t[.][j] = B^T d[.][j],
         * written at V's [.][j]), then six row passes in place (V[i][.] = t[i][.] B); a pass runs the 6-point
         * transform on each vector of channels.
         */
        private void input6(int img, int top, int left, long v) {
            long vStride = cin * 4L; // between positions
            long rowStride = 6 * vStride;
            FloatVector two = FloatVector.broadcast(S, 2f), four = FloatVector.broadcast(S, 4f);
            FloatVector five = FloatVector.broadcast(S, 5f);
            for (int pass = 0; pass < 12; pass++) {
                MemorySegment src;
                long s0, s1, s2, s3, s4, s5, d, ds;
                if (pass < 6) { // column j = pass: the window's pixels (j, 6 + j, ..., 30 + j)
                    src = in;
                    int x = left + pass;
                    s0 = pixel(img, top, x);
                    s1 = pixel(img, top + 1, x);
                    s2 = pixel(img, top + 2, x);
                    s3 = pixel(img, top + 3, x);
                    s4 = pixel(img, top + 4, x);
                    s5 = pixel(img, top + 5, x);
                    d = v + pass * vStride;
                    ds = rowStride;
                } else { // row i = pass - 6 of V, in place
                    src = scratch;
                    s0 = v + (pass - 6) * rowStride;
                    s1 = s0 + vStride;
                    s2 = s0 + 2 * vStride;
                    s3 = s0 + 3 * vStride;
                    s4 = s0 + 4 * vStride;
                    s5 = s0 + 5 * vStride;
                    d = s0;
                    ds = vStride;
                }
                for (long cb = 0; cb < vStride; cb += VB) {
                    FloatVector d0 = FloatVector.fromMemorySegment(S, src, s0 + cb, LE);
                    FloatVector d1 = FloatVector.fromMemorySegment(S, src, s1 + cb, LE);
                    FloatVector d2 = FloatVector.fromMemorySegment(S, src, s2 + cb, LE);
                    FloatVector d3 = FloatVector.fromMemorySegment(S, src, s3 + cb, LE);
                    FloatVector d4 = FloatVector.fromMemorySegment(S, src, s4 + cb, LE);
                    FloatVector d5 = FloatVector.fromMemorySegment(S, src, s5 + cb, LE);
                    FloatVector p = d4.sub(d2.mul(four)); // d4 - 4 d2
                    FloatVector q = d3.sub(d1.mul(four)); // d3 - 4 d1
                    FloatVector r = d4.sub(d2); //           d4 - d2
                    FloatVector e = d3.sub(d1).mul(two); //  2 (d3 - d1)
                    long o = d + cb;
                    d0.mul(four).sub(d2.mul(five)).add(d4).intoMemorySegment(scratch, o, LE); // 4 d0 - 5 d2 + d4
                    p.add(q).intoMemorySegment(scratch, o + ds, LE); //                 -4 d1 - 4 d2 + d3 + d4
                    p.sub(q).intoMemorySegment(scratch, o + 2 * ds, LE); //              4 d1 - 4 d2 - d3 + d4
                    r.add(e).intoMemorySegment(scratch, o + 3 * ds, LE); //             -2 d1 - d2 + 2 d3 + d4
                    r.sub(e).intoMemorySegment(scratch, o + 4 * ds, LE); //              2 d1 - d2 - 2 d3 + d4
                    d1.mul(four).sub(d3.mul(five)).add(d5).intoMemorySegment(scratch, o + 5 * ds, LE); // 4 d1 - 5 d3 + d5
                }
            }
        }

        /** One tile's V = B^T d B, F(2x2, 3x3): as {@link #input6}, four column passes then four row passes. */
        private void input4(int img, int top, int left, long v) {
            long vStride = cin * 4L;
            long rowStride = 4 * vStride;
            for (int pass = 0; pass < 8; pass++) {
                MemorySegment src;
                long s0, s1, s2, s3, d, ds;
                if (pass < 4) {
                    src = in;
                    int x = left + pass;
                    s0 = pixel(img, top, x);
                    s1 = pixel(img, top + 1, x);
                    s2 = pixel(img, top + 2, x);
                    s3 = pixel(img, top + 3, x);
                    d = v + pass * vStride;
                    ds = rowStride;
                } else {
                    src = scratch;
                    s0 = v + (pass - 4) * rowStride;
                    s1 = s0 + vStride;
                    s2 = s0 + 2 * vStride;
                    s3 = s0 + 3 * vStride;
                    d = s0;
                    ds = vStride;
                }
                for (long cb = 0; cb < vStride; cb += VB) {
                    FloatVector x0 = FloatVector.fromMemorySegment(S, src, s0 + cb, LE);
                    FloatVector x1 = FloatVector.fromMemorySegment(S, src, s1 + cb, LE);
                    FloatVector x2 = FloatVector.fromMemorySegment(S, src, s2 + cb, LE);
                    FloatVector x3 = FloatVector.fromMemorySegment(S, src, s3 + cb, LE);
                    long o = d + cb;
                    x0.sub(x2).intoMemorySegment(scratch, o, LE);
                    x1.add(x2).intoMemorySegment(scratch, o + ds, LE);
                    x2.sub(x1).intoMemorySegment(scratch, o + 2 * ds, LE);
                    x1.sub(x3).intoMemorySegment(scratch, o + 3 * ds, LE);
                }
            }
        }

        /** The byte offset in the input of image img's pixel (y, x), or of the zero pixel where that is outside. */
        private long pixel(int img, int y, int x) {
            return (y < 0 || y >= h || x < 0 || x >= w ? zero : (((long) img * h + y) * w + x) * cin) * 4;
        }

        /**
         * out = relu?(A^T M A + bias + residual) for tiles t0 .. t0 + count (M's rows from the byte offset
         * mStart on), the panel's channels.
         */
        private void output(int t0, int count, long base, int panel, long mStart) {
            long tmp = base + tmpOff(rows);
            long mStride = width * 4L; // between positions
            FloatVector zero = FloatVector.zero(S);
            for (int r = 0; r < count; r++) {
                int t = t0 + r;
                int img = t / (th * tw), q = t - img * th * tw, ty = q / tw, tx = q - ty * tw;
                int y0 = ty * m, x0 = tx * m;
                int rows = Math.min(m, h - y0), cols = Math.min(m, w - x0);
                long mt = base + mOff(this.rows) + mStart + (long) r * positions * width * 4;
                for (int c = panel * width; c < (panel + 1) * width; c += L) {
                    long cb = c * 4L;
                    long s = mt + (c - panel * width) * 4L;
                    FloatVector b = FloatVector.fromMemorySegment(S, bias, cb, LE);
                    if (m == 4) {
                        output6(s, mStride, tmp, rows);
                    } else {
                        output4(s, mStride, tmp, rows);
                    }
                    for (int i = 0; i < rows; i++) {
                        long o = ((((long) img * h + y0 + i) * w + x0) * cout + c) * 4;
                        for (int j = 0; j < cols; j++, o += cout * 4L) {
                            FloatVector y = FloatVector.fromMemorySegment(S, scratch, tmp + (i * a + j) * VB, LE).add(b);
                            if (res != null) {
                                y = y.add(FloatVector.fromMemorySegment(S, res, o, LE));
                            }
                            if (relu) {
                                y = y.max(zero);
                            }
                            y.intoMemorySegment(out, o, LE);
                        }
                    }
                }
            }
        }

        /**
         * One vector of channels of a tile's Y = A^T M A, F(4x4, 3x3), into tmp (row i at tmp + 6 i VB, its
         * columns VB apart): six column passes t[.][j] = A^T M[.][j] (M's positions mStride apart, from s), then
         * one row pass in place for each of the tile's rows that the output holds.
         */
        private void output6(long s, long mStride, long tmp, int rows) {
            FloatVector two = FloatVector.broadcast(S, 2f), four = FloatVector.broadcast(S, 4f);
            FloatVector eight = FloatVector.broadcast(S, 8f);
            for (int pass = 0; pass < 6 + rows; pass++) {
                long s0, step, d, ds;
                if (pass < 6) { // column j = pass: M's positions (j, 6 + j, ..., 30 + j)
                    s0 = s + pass * mStride;
                    step = 6 * mStride;
                    d = tmp + pass * VB;
                    ds = 6 * VB;
                } else { // row i = pass - 6 of t, in place
                    s0 = tmp + (pass - 6) * 6 * VB;
                    step = VB;
                    d = s0;
                    ds = VB;
                }
                FloatVector m0 = FloatVector.fromMemorySegment(S, scratch, s0, LE);
                FloatVector m1 = FloatVector.fromMemorySegment(S, scratch, s0 + step, LE);
                FloatVector m2 = FloatVector.fromMemorySegment(S, scratch, s0 + 2 * step, LE);
                FloatVector m3 = FloatVector.fromMemorySegment(S, scratch, s0 + 3 * step, LE);
                FloatVector m4 = FloatVector.fromMemorySegment(S, scratch, s0 + 4 * step, LE);
                FloatVector m5 = FloatVector.fromMemorySegment(S, scratch, s0 + 5 * step, LE);
                FloatVector p = m1.add(m2), q = m1.sub(m2), r = m3.add(m4), e = m3.sub(m4);
                m0.add(p).add(r).intoMemorySegment(scratch, d, LE); //          m0 + m1 + m2 + m3 + m4
                q.add(e.mul(two)).intoMemorySegment(scratch, d + ds, LE); //    m1 - m2 + 2 (m3 - m4)
                p.add(r.mul(four)).intoMemorySegment(scratch, d + 2 * ds, LE); // m1 + m2 + 4 (m3 + m4)
                q.add(e.mul(eight)).add(m5).intoMemorySegment(scratch, d + 3 * ds, LE); // m1 - m2 + 8 (m3 - m4) + m5
            }
        }

        /** As {@link #output6} for F(2x2, 3x3): four column passes, then the row passes (tmp's rows 4 VB apart). */
        private void output4(long s, long mStride, long tmp, int rows) {
            for (int pass = 0; pass < 4 + rows; pass++) {
                long s0, step, d, ds;
                if (pass < 4) {
                    s0 = s + pass * mStride;
                    step = 4 * mStride;
                    d = tmp + pass * VB;
                    ds = 4 * VB;
                } else {
                    s0 = tmp + (pass - 4) * 4 * VB;
                    step = VB;
                    d = s0;
                    ds = VB;
                }
                FloatVector x0 = FloatVector.fromMemorySegment(S, scratch, s0, LE);
                FloatVector x1 = FloatVector.fromMemorySegment(S, scratch, s0 + step, LE);
                FloatVector x2 = FloatVector.fromMemorySegment(S, scratch, s0 + 2 * step, LE);
                FloatVector x3 = FloatVector.fromMemorySegment(S, scratch, s0 + 3 * step, LE);
                x0.add(x1).add(x2).intoMemorySegment(scratch, d, LE);
                x1.sub(x2).sub(x3).intoMemorySegment(scratch, d + ds, LE);
            }
        }
    }

    /**
     * How many 6-row register tiles, with 7-row ones for the rest, cover {@code count} rows exactly; -1 where
     * none do, or where the tile is not 7 rows (narrower vectors: the 7-row tile would spill).
     */
    static int sixes(int count) {
        if (MP != 7) {
            return -1;
        }
        for (int six = 0; six < 7 && 6 * six <= count; six++) {
            if ((count - 6 * six) % 7 == 0) {
                return six;
            }
        }
        return -1;
    }
}
