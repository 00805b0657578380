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
 * Direct 2-D convolution into channels-last activations: {@code out[p][co] = relu?(bias[co] + res[p][co] +
 * sum_{tap, ci} in[pixel(p, tap)][ci] * W[co][ci][tap])}, where p runs over the output pixels of the batch.
 *
 * <p>Layouts:
 * <ul>
 *   <li>out and the residual: NHWC {@code [n][oh][ow][cout]}, and after the last pixel one pixel of zeros
 *       ({@code cout} floats) that this writes: {@link #zeroPixel}. The next channels-last convolution points
 *       its zero-padding taps there, so its buffers must hold {@code (n*oh*ow + 1) * cout} floats.</li>
 *   <li>in: NHWC {@code [n][h][w][cin]} with that zero pixel after it.</li>
 * </ul>
 *
 * <p>The register tile is MP output pixels by two vectors of output channels (7 x 2 x 16 on AVX-512, 6 x 2 x 8
 * on AVX2: 14 or 12 accumulators): per depth step two vector loads of packed weights and MP broadcasts of
 * input values, one per pixel. One micro-kernel call per tap (and block of KC input channels); for each tap a
 * table gives the MP pixels' input offsets (a padding tap points at the zero pixel), so every convolution of
 * any kernel size and stride reads its input in place: no im2col, no phase planes, no junk columns. Where the
 * vectors have 16 lanes and cout is a multiple of 64 the tile is 6 pixels by four vectors instead ({@link #wide},
 * {@link #wideTiles}): 10 loads for 24 FMAs a depth step. Why
 * channels-last for the later stages: their planes are small (28x28 to 7x7), and with output pixels along the
 * vector (NCHW's GEMM) a 7x7 plane fills 49 of 64 lanes and a stride-2 layer first splits its input into
 * phases; here the vector runs along the output channels, which are many. Chained as in a pass (three copies of
 * ResNet-50's layers, their weights out of cache, 2 threads), the stride-2 3x3 convolutions ran in 0.46-0.54 of
 * their NCHW time and the 7x7 and 14x14 layers in 0.55-0.92.
 *
 * <p>Work is split into tasks (block of output-channel panels, block of pixel tiles), a share of them per thread
 * ({@link Shares}): column by column, so that a thread's consecutive tasks share their weights; layers of
 * {@link #STATIC_MIN_TILES} tiles or more give each thread a share of the pixel blocks instead, each block's columns
 * in turn. A stride-1 1x1 convolution reads consecutive pixels and needs no offset table pass.
 */
public final class ConvNhwc implements ConvKernel {
    private static final VectorSpecies<Float> S = Gemm.S;
    private static final int L = Gemm.L;
    private static final long VB = Gemm.VB;
    /** Output pixels per register tile. */
    static final int MP = L >= 16 ? 7 : 6;
    /** Output channels per register tile (and per packed weight panel): two vectors, Gemm's NR. */
    static final int NRC = Gemm.NR;
    /** Most pixel tiles per task. */
    static final int TILES_PER_TASK = Integer.getInteger("skipjack.nhwc.tilesPerTask", 16);
    /**
     * Most depth steps per micro-kernel call: longer calls add fewer tiles. Whole ResNet-50 passes (two engines
     * alternating) with 128, 512 and 2048 against 256: 1.032, 0.976 and 0.969 times the time. At 2048 no
     * ResNet layer splits its input channels.
     */
    static final int KC = Integer.getInteger("skipjack.nhwc.kc", 2048);
    /**
     * Whether layers with large inputs take their tiles in the spread order ({@link #spread}): tile t's rows are the
     * pixels t, t + m, ..., t + (rows - 1) m (m = pixels / rows; the few pixels after rows x m make one last tile of
     * consecutive pixels), so that its rows lie in as many distant parts of the input, each read forward, tile after
     * tile. Consecutive pixels instead, a tile's rows (cin floats each) share a 4 KB page and are read
     * side by side, a float of each a depth step: the L2's streaming prefetcher, which follows one forward stream a
     * page, did not follow them, and an input from memory came in at the loads' pace. The 6x4 kernel alone on a
     * 1x1 256 -> 64 over 3136 pixels, the input from memory (eight copies in turn), one thread: 65-73 GFLOP/s
     * consecutive, 97-125 spread (Ice Lake Xeon). The layer alone, its input out of cache: 0.727 and 0.747 of the
     * time (faster in 39 and 40 of 40 rounds). Timed inside whole ResNet-50 passes (batch 1, both builds in one
     * process): its 56x56 256 -> 64 1x1s 0.77-0.81 of the time (faster in every round), 28x28 512 -> 128 0.84-0.95.
     * Where the input fits in L2, or the layer writes more than it reads (the expanding 1x1s: the output's lines
     * written six places at a time), the order made no difference or cost up to 15% (the 14x14 and 7x7 layers),
     * hence {@link #SPREAD_MIN_BYTES}. The property is for experiments.
     */
    static final boolean SPREAD = !"false".equals(System.getProperty("skipjack.nhwc.spread"));
    /** Least input bytes for the spread order, which also takes an input at least as large as the output. */
    static final long SPREAD_MIN_BYTES = Long.getLong("skipjack.nhwc.spreadMinBytes", 1L << 20);
    /**
     * Layers of at least this many tiles split by shares: thread i takes the i-th share of the pixel blocks
     * with all their panels (then helps with what is left of the other's, {@link Shares}), so that in
     * channels-last values (pixels contiguous) each core reads and writes the same share of every buffer from
     * layer to layer and its cache lines stay in that core's cache. Claimed
     * dynamically, the two cores' writes interleaved across each other's lines: ResNet-50's 1x1 64 -> 256 at
     * 56x56 took 0.62-0.64 ms against 0.44-0.47 split statically (2 threads, hot). Whole passes (two engines
     * alternating): ResNet-50 2.4% faster at batch 1 and 5% at batch 8 with 100 (28x28 planes and larger), 2.2%
     * with 300; split statically everywhere (no stealing), 11.5% slower (ResNet-18 25%: small layers' shares
     * uneven, and a descheduled core held up the other). ResNet-18 is within noise at 100; stealing added 1.2% on
     * ResNet-50. The property is for experiments.
     */
    static final int STATIC_MIN_TILES = Integer.getInteger("skipjack.nhwc.staticMinTiles", 100);
    /** For experiments: {@link #rowRuns} on or off, and the longest run in floats. */
    static final boolean ROW_RUNS = !"false".equals(System.getProperty("skipjack.nhwc.rowRuns"));
    static final int ROW_RUN_MAX = Math.min(KC, Integer.getInteger("skipjack.nhwc.rowRunMax", 512));
    /** Tasks per thread a layer is split into at least, by smaller pixel blocks, where its panels are too few. */
    static final int TASKS_PER_THREAD = 4;
    /** Pixels per tile of {@link #kernel6x4}. */
    static final int WP = 6;
    /**
     * A wide partial last tile of at most this many pixels runs them one at a time ({@link #kernel1x4}) instead of
     * computing all 6 rows: a 49-pixel plane is 8 tiles of 6 and one of a single pixel.
     */
    static final int FEW = 2;
    /** For experiments: {@link #wide} on or off. */
    static final boolean WIDE = !"false".equals(System.getProperty("skipjack.nhwc.wide"));
    /** The default of {@link #wideTiles}; the property is for experiments. */
    static final boolean WIDE_TILES = !"false".equals(System.getProperty("skipjack.nhwc.wideTiles"));
    /**
     * Whether wide tiles read the weights of the next tap ahead ({@link #kernel6x4Ahead}); the property is for
     * experiments. What it is for: a tap's slice of a pair's weights (up to 512 x 64 floats, 128 KB) serves every
     * tile of a block, from L2 after the first, but the first reads it from L3 or memory at the speed of the loads
     * alone. One thread, ResNet-18's 7x7 512-channel layer's access pattern (the kernel alone): 3.40 ms with its
     * 9.4 MB of weights streaming against 2.20 with one slice for all (2.43 at 2 MB); reading the next slice ahead,
     * 3.00. The layer (hot in L3): 0.867 of the time on one thread (faster in 25 of 30 rounds), 0.937 on two; the
     * 3x3/2 256 -> 512 at 14x14 0.876. Whole passes, two engines alternating, 2 threads, batch 1: ResNet-18 0.918,
     * 0.936 and 0.943 (faster in 65, 64 and 70 of 100), ResNet-50 0.976 and 0.958 (38 and 43 of 60). In the
     * 1x1s ({@link WideJob}) reading the next pair's weights ahead did not pay (2048 -> 512 at 7x7 1.033, 1024 ->
     * 256 at 14x14 0.987: a pair's 512 KB, the next pair's and the input overflow L2); in blocks of depth it does
     * ({@link #wideAhead}). Not in WinogradNhwc's GEMMs (ResNet-18 1.006). Only in layers of
     * {@link #TOUCH_MIN_BYTES} of weights or more.
     */
    static final boolean TOUCH_AHEAD = !"false".equals(System.getProperty("skipjack.nhwc.touchAhead"));
    /**
     * Least bytes of packed weights for which wide tiles read ahead ({@link #readAhead}): smaller ones stay in L2
     * (1.25 MB a core on the Ice Lake Xeon measured), and there the extra load a step only costs. One thread, three
     * copies of each layer in turn, against no reading ahead: 3x3/2 64 -> 128 at 56x56 (295 KB) 1.081, 128 -> 256
     * at 28x28 (1.2 MB) 1.044, 1x1/2 64 -> 128 1.078; 3x3/2 256 -> 256 at 28x28 (2.4 MB) 0.951, 1x1/2 512 -> 1024
     * (2 MB) 0.976, 1024 -> 2048 (8 MB) 0.933, 3x3 512 -> 512 at 7x7 (9.4 MB) 0.841. The property is for experiments.
     */
    static final long TOUCH_MIN_BYTES = Long.getLong("skipjack.nhwc.touchMinBytes", 2L << 20);
    /**
     * Bytes {@link #kernel6x4Ahead} moves on in w a depth step, half a vector: a step reads 4 vectors of its own
     * weights, so a call reads ahead an eighth of a slice as long as its own ({@link #touchAhead}).
     */
    static final long AHEAD_STEP = VB / 2;
    /**
     * Depth steps per block of a wide (stride-1 1x1) layer that reads ahead ({@link #wideAhead}): its tiles run a
     * block at a time, so that a block of a pair's weights (WIDE_KC x 64 floats, 128 KB) serves every tile from L2
     * while the next block comes from memory. The property is for experiments.
     */
    static final int WIDE_KC = Integer.getInteger("skipjack.nhwc.wideKc", 512);
    /**
     * Most input bytes for which a {@link #wideAhead} layer runs in depth blocks: the input shares L2 with the
     * block in use and the one read ahead. ResNet-50's 1024 -> 512 at 14x14 (800 KB of input) took 1.08-1.14 times
     * as long in blocks (one thread, weights from L3 or memory; the same probe read 1.06 with both on one path), and
     * in passes no less; its 7x7 1x1s at batch 1 (100-400 KB) 0.84-0.85.
     */
    static final long WIDE_AHEAD_MAX_INPUT = Long.getLong("skipjack.nhwc.wideAheadMaxInput", 512L << 10);

    private final ConvShape shape;
    private final int ks, stride, pad, cin, cout, taps, panels;
    /**
     * Whether this stride-1 1x1 convolution runs on {@link #kernel6x4} ({@link WideJob}): 6 pixels by 64 output
     * channels, where the vectors have 16 lanes (AVX-512's 32 registers hold its 24 accumulators) and cout is a
     * multiple of 64 (every 1x1 of ResNet); its weights then packed in panels of 2 NRC. Per depth step 10 loads
     * for 24 FMAs against the 7x2 tile's 9 for 14, and a call does 1.7 times the work for its fixed cost: in L1 on
     * one core 197 GFLOP/s at 64 depth steps (7x2: 173) and 206-211 at 256 (193).
     */
    private final boolean wide;
    /**
     * Whether the other convolutions (any kernel size and stride but a stride-1 1x1) run on {@link #kernel6x4}
     * too, where the vectors have 16 lanes and cout is a multiple of 64: tiles of {@link #WP} pixels by two
     * panels, each row's input offset from the offset table, weights packed [pairs][tap][ci][2 NRC]. Otherwise
     * the 7x2 (or 6x2) kernel on single panels. On an Ice Lake Xeon (the kernels alone in L1: 6x4 at 1.3-1.5
     * times the 7x2's FLOP rate), one thread, alternating in one process: 3x3/2 layers 0.87-0.93 of the 7x2's
     * time, 512 channels at 7x7 0.95 (49 pixels in 9 tiles of 6 where 7 tiles of 7 fit exactly); whole
     * ResNet-18 passes 0.95-0.98, ResNet-50 0.97-1.01.
     */
    private final boolean wideTiles;
    /**
     * Whether the wide tiles read the next tap's weights ahead ({@link #kernel6x4Ahead}): {@link #TOUCH_AHEAD} and
     * at least {@link #TOUCH_MIN_BYTES} of weights (the warm-up's layers: any).
     */
    private final boolean readAhead;
    /**
     * Whether this wide layer ({@link #wide}) runs its tiles block by block of {@link #WIDE_KC} depth steps on
     * {@link #kernel6x4Ahead}, each block's calls reading the next block (or the next pair's first) ahead: where its
     * weights are {@link #TOUCH_MIN_BYTES} or more and cin a multiple of WIDE_KC (ResNet-50's 2048 -> 512 and
     * 512 -> 2048 at 7x7, 1024 -> 512 at 14x14), for inputs of at most {@link #WIDE_AHEAD_MAX_INPUT} bytes. A pair's 512 KB of weights from memory otherwise came in at the
     * first tile's loads alone, all of it before the other tiles could reuse it from L2. ResNet-50's 2048 -> 512
     * at 7x7, its 4 MB of weights from memory (16 copies in turn): one thread 0.843 of the time (faster in 39 of
     * 40 rounds), 512 -> 2048 (one block: the next pair's read ahead) 0.848 (36 of 40) and on two threads 0.895;
     * timed inside whole passes (2 threads, batch 1, three runs each way) 0.60-0.73 ms against
     * 0.85-0.94 (ONNX Runtime's profile: 0.64-0.66). Whole ResNet-50 passes, both builds alternating: 0.997 and,
     * order swapped, 0.988 (300 rounds each).
     */
    private final boolean wideAhead;
    /** Least input bytes for which the tiles are spread ({@link #spread}); negative: always. */
    private final long spreadFrom;
    /** Pixels per tile of {@link TileJob} (and of the offset table): WP where {@link #wideTiles}, else MP. */
    private final int tileRows;
    /** Output channels per column of {@link TileJob}: 2 NRC where {@link #wideTiles}, else NRC. */
    private final int width;
    // [panels][tap][ci][NRC], tap = ky * ks + kx: the NRC output channels of a panel interleaved along the depth;
    // where wide or wideTiles, [pairs][tap][ci][2 NRC] (wide: 1x1, one tap)
    private final MemorySegment packedW;
    // [cout]
    private final MemorySegment bias;
    private final TableJob tableJob = new TableJob();
    /** Most input shapes (n, h, w) whose offset tables a layer keeps. */
    private static final int CACHED_TABLES = 4;
    // The cached tables and their shapes {n, h, w}, filled in order (under tileJob's lock).
    private final int[][] tableShapes = new int[CACHED_TABLES][];
    private final MemorySegment[] tables = new MemorySegment[CACHED_TABLES];
    private final TileJob tileJob = new TileJob();
    private final WideJob wideJob = new WideJob();

    /**
     * Packs the weights once into {@code arena}.
     *
     * @param shape      the geometry; one group, cout a multiple of {@link #NRC} (see {@link #supports})
     * @param weight     [cout][cin][k][k] float32 (OIHW, batch norm folded in); may be read-only
     * @param bias       [cout] float32; may be read-only
     * @param arena      owns the packed copy
     */
    public ConvNhwc(ConvShape shape, MemorySegment weight, MemorySegment bias, Arena arena) {
        this(shape, weight, bias, WIDE_TILES, arena);
    }

    /**
     * As {@link #ConvNhwc(ConvShape, MemorySegment, MemorySegment, Arena)}, choosing whether the convolutions
     * other than stride-1 1x1s may run on the 6x4 kernel ({@link #wideTiles}; where the vectors and cout allow).
     */
    public ConvNhwc(ConvShape shape, MemorySegment weight, MemorySegment bias, boolean wideTiles, Arena arena) {
        this(shape, weight, bias, wideTiles, TOUCH_MIN_BYTES, SPREAD_MIN_BYTES, arena);
    }

    /**
     * As {@link #ConvNhwc(ConvShape, MemorySegment, MemorySegment, boolean, Arena)}, the wide tiles reading ahead
     * ({@link #readAhead}) from {@code readAheadFrom} bytes of packed weights on instead of {@link #TOUCH_MIN_BYTES}
     * (the warm-up's small layers must run the reading kernel too), and the tiles spread ({@link #spread}) from
     * {@code spreadFrom} bytes of input on instead of {@link #SPREAD_MIN_BYTES}; a negative spreadFrom spreads them
     * at every size and whatever the output's (the tests).
     */
    ConvNhwc(ConvShape shape, MemorySegment weight, MemorySegment bias, boolean wideTiles, long readAheadFrom,
             long spreadFrom, Arena arena) {
        if (!supports(shape)) {
            throw new IllegalArgumentException("ConvNhwc cannot run " + shape + ": it needs one group and cout a "
                    + "multiple of " + NRC);
        }
        this.shape = shape;
        this.ks = shape.kernel();
        this.stride = shape.stride();
        this.pad = shape.pad();
        this.cin = shape.cin();
        this.cout = shape.cout();
        this.taps = ks * ks;
        this.panels = cout / NRC;
        this.wide = WIDE && ks == 1 && stride == 1 && shape.pad() == 0 && L >= 16 && cout % (2 * NRC) == 0;
        this.wideTiles = wideTiles && !wide && !pointwise() && L >= 16 && cout % (2 * NRC) == 0;
        this.tileRows = this.wideTiles ? WP : MP;
        this.width = this.wideTiles ? 2 * NRC : NRC;
        shape.requireWeights("ConvNhwc", weight, bias);
        this.bias = arena.allocate(cout * 4L, 64);
        MemorySegment.copy(bias, 0, this.bias, 0, cout * 4L);
        this.packedW = packPanels(weight, cout, cin, taps, wide || this.wideTiles ? 2 * NRC : NRC, arena);
        this.readAhead = TOUCH_AHEAD && this.wideTiles && packedW.byteSize() >= readAheadFrom;
        this.wideAhead = TOUCH_AHEAD && wide && WIDE_KC > 0 && cin % WIDE_KC == 0
                && packedW.byteSize() >= readAheadFrom;
        this.spreadFrom = spreadFrom;
    }

    /**
     * OIHW weights {@code [cout][cin][taps]} packed into {@code arena} as {@code [cout / width][tap][ci][width]}:
     * each panel's {@code width} output channels interleaved along the depth, taps outermost (ConvNhwc's and
     * StemConv's layout). Panel by panel through arrays (element by element through segments is slow for 25M
     * weights).
     */
    static MemorySegment packPanels(MemorySegment weight, int cout, int cin, int taps, int width, Arena arena) {
        int depth = cin * taps;
        MemorySegment packed = arena.allocate((long) cout * depth * 4, 64);
        float[] rows = new float[width * depth];
        float[] panel = new float[width * depth];
        for (int p = 0; p < cout / width; p++) {
            MemorySegment.copy(weight, ValueLayout.JAVA_FLOAT_UNALIGNED, (long) p * width * depth * 4, rows, 0,
                    width * depth);
            for (int c = 0; c < width; c++) {
                for (int ci = 0; ci < cin; ci++) {
                    for (int t = 0; t < taps; t++) {
                        panel[(t * cin + ci) * width + c] = rows[c * depth + ci * taps + t];
                    }
                }
            }
            MemorySegment.copy(panel, 0, packed, ValueLayout.JAVA_FLOAT_UNALIGNED, (long) p * width * depth * 4,
                    width * depth);
        }
        return packed;
    }

    /** Whether this kernel can run {@code shape}: one group, output channels a multiple of {@link #NRC}. */
    public static boolean supports(ConvShape shape) {
        return shape.groups() == 1 && shape.cout() % NRC == 0;
    }

    @Override
    public ConvShape shape() {
        return shape;
    }

    /** The packed weights. */
    @Override
    public MemorySegment weights() {
        return packedW;
    }

    @Override
    public String algorithm() {
        return "NHWC";
    }

    /**
     * A stride-1 1x1 convolution from channels-last reads MP consecutive pixels per tile: one fixed table of
     * their offsets from the tile's first pixel ({@code r * cin}) serves every tile but a partial last one, which
     * has its own (clamped to the last pixel); no table pass. ResNet-50's 1x1s are 34 of its 53 convolutions.
     */
    private boolean pointwise() {
        return ks == 1 && stride == 1 && pad == 0;
    }

    /**
     * Whether tiles whose windows lie inside the input run one micro-kernel call per kernel row instead of per
     * tap: the k pixels of a window row are consecutive in channels-last, so its taps' input channels are one
     * contiguous run of k * cin floats, and the packed weights of those taps ([tap][ci][NRC], taps of a row
     * consecutive) are too. Three calls of 3 cin depth steps instead of nine of cin: the micro-kernel's fixed
     * cost per call weighs most where cin is small. Tiles touching the padding keep one call per tap. Two
     * engines alternating: ResNet-18 (3x3s over 64 to 256 channels) 3.5% faster, ResNet-50 2.3% slower with
     * runs of up to 3 x 512 channels; runs of at most {@link #ROW_RUN_MAX} floats (the 64- and 128-channel
     * layers): ResNet-18 2.9% faster, ResNet-50 within noise.
     */
    private boolean rowRuns() {
        return ROW_RUNS && ks > 1 && (long) ks * cin <= ROW_RUN_MAX;
    }

    /**
     * Whether the tiles are taken in the spread order ({@link #SPREAD}) for an input of n x h x w: from
     * {@link #spreadFrom} bytes of input on, where the output is no larger than the input.
     */
    private boolean spread(int n, int h, int w) {
        long inBytes = (long) n * h * w * cin * 4, outBytes = (long) n * shape.outH(h) * shape.outW(w) * cout * 4;
        return spreadFrom < 0 || SPREAD && inBytes >= spreadFrom && inBytes >= outBytes;
    }

    /**
     * Bytes of a thread's part of the scratch where {@link #wide}: a tile's sums, then a partial tile's input, then
     * (where {@link #wideAhead}) a block's sums.
     */
    private long wideSlotBytes() {
        return Simd.align64((long) WP * 2 * NRC * 4) * (wideAhead ? 2 : 1) + Simd.align64((long) WP * cin * 4);
    }

    private long tableBytes(int n, int h, int w) {
        if (pointwise()) {
            return 3 * 64;
        }
        long tiles = ((long) n * shape.outH(h) * shape.outW(w) + tileRows - 1) / tileRows;
        return Simd.align64(tiles * taps * tileRows * 4) + (rowRuns() ? Simd.align64(tiles * 4) : 0);
    }

    /** Byte offset, from the table's start, of the per-tile flags (1: every window inside the input). */
    private long flagsOff(int tiles) {
        return Simd.align64((long) tiles * taps * tileRows * 4);
    }

    @Override
    public long scratchBytes(int n, int h, int w, int threads) {
        long slot = wide ? wideSlotBytes() : (long) 2 * tileRows * width * 4;
        return tableBytes(n, h, w) + (long) Math.max(1, threads) * slot;
    }

    /**
     * {@code out = relu?(conv(in) + bias + residual)}, and the zero pixel after out.
     *
     * @param in       NHWC [n][h][w][cin] followed by a pixel of zeros, or NCHW [n][cin][h][w] if so constructed
     * @param out      NHWC [n][oh][ow][cout] + one pixel; must not overlap {@code in}, the residual or scratch
     * @param residual null or NHWC [n][oh][ow][cout]
     * @param scratch  at least {@link #scratchBytes}{@code (n, h, w, par.threads())} bytes, 64-byte aligned
     */
    @Override
    public void forward(MemorySegment in, MemorySegment out, MemorySegment residual, boolean relu,
                        int n, int h, int w, MemorySegment scratch, Parallel par) {
        if (n < 1) {
            throw new IllegalArgumentException("ConvNhwc " + shape + ": batch must be >= 1, got " + n);
        }
        if (((long) n * h * w + 1) * cin > Integer.MAX_VALUE) { // the offset table holds int float indices
            throw new IllegalArgumentException("ConvNhwc " + shape + ": an input of n=" + n + " h=" + h + " w=" + w
                    + " has more than 2^31 - 1 floats");
        }
        int oh = shape.outH(h), ow = shape.outW(w);
        long pixels = (long) n * oh * ow;
        long need = scratchBytes(n, h, w, par.threads());
        if (scratch.byteSize() < need) {
            throw new IllegalArgumentException("ConvNhwc " + shape + ": scratch of " + scratch.byteSize()
                    + " bytes, needs " + need + " for n=" + n + " h=" + h + " w=" + w + " threads=" + par.threads());
        }
        long inFloats = ((long) n * h * w + 1) * cin;
        if (in.byteSize() < inFloats * 4 || out.byteSize() < (pixels + 1) * cout * 4
                || (residual != null && residual.byteSize() < pixels * cout * 4)) {
            throw new IllegalArgumentException("ConvNhwc " + shape + ": for n=" + n + " h=" + h + " w=" + w
                    + " the input needs " + inFloats + " floats (has " + in.byteSize() / 4 + "), the output "
                    + (pixels + 1) * cout + " (has " + out.byteSize() / 4 + ")"
                    + (residual == null ? "" : ", the residual " + pixels * cout + " (has " + residual.byteSize() / 4 + ")"));
        }
        if (wide) {
            synchronized (wideJob) {
                zeroPixel(out, pixels * cout, cout);
                wideJob.spread = spread(n, h, w);
                wideJob.blocked = wideAhead && (long) n * h * w * cin * 4 <= WIDE_AHEAD_MAX_INPUT;
                wideJob.run(in, out, residual, relu, scratch, tableBytes(n, h, w), wideSlotBytes(), (int) pixels,
                        (int) ((pixels + WP - 1) / WP), panels / 2, par);
            }
            return;
        }
        int tiles = (int) ((pixels + tileRows - 1) / tileRows);
        synchronized (tileJob) {
            if (pointwise()) { // the fixed table at the scratch's start, the last tile's 64 bytes on, the spread one's
                for (int r = 0; r < MP; r++) {
                    scratch.set(ValueLayout.JAVA_INT_UNALIGNED, r * 4L, r * cin);
                    long last = Math.min((long) (tiles - 1) * MP + r, pixels - 1) * cin;
                    scratch.set(ValueLayout.JAVA_INT_UNALIGNED, 64 + r * 4L, (int) last);
                    scratch.set(ValueLayout.JAVA_INT_UNALIGNED, 128 + r * 4L, (int) (r * (pixels / MP) * cin));
                }
                tileJob.offsets = scratch;
            } else {
                tileJob.offsets = table(n, h, w, tiles, scratch, par);
            }
            zeroPixel(out, pixels * cout, cout);
            tileJob.pointwise = pointwise();
            tileJob.rowRuns = rowRuns();
            tileJob.spread = spread(n, h, w);
            try {
                tileJob.run(in, out, residual, relu, scratch, tableBytes(n, h, w), (long) 2 * tileRows * width * 4,
                        (int) pixels, tiles, wideTiles ? panels / 2 : panels, par);
            } finally {
                tileJob.offsets = null;
            }
        }
    }

    /**
     * The offset table for an input of n x h x w: computed once per shape into a segment of its own for the first
     * {@link #CACHED_TABLES} shapes a layer meets (a model runs one or a few), else into the scratch's start at
     * every call. Computed at every call, the table pass and its barrier cost 8 us of ResNet's 7x7 3x3s and 21-29
     * us of the 28x28 and 56x56 3x3/2s (2 threads, against a cached table, one process alternating).
     */
    private MemorySegment table(int n, int h, int w, int tiles, MemorySegment scratch, Parallel par) {
        int slot = 0;
        while (slot < CACHED_TABLES && tableShapes[slot] != null
                && (tableShapes[slot][0] != n || tableShapes[slot][1] != h || tableShapes[slot][2] != w)) {
            slot++;
        }
        if (slot < CACHED_TABLES && tableShapes[slot] != null) {
            return tables[slot];
        }
        MemorySegment table = scratch;
        if (slot < CACHED_TABLES) { // a free entry: a segment of its own, freed with this kernel
            table = Arena.ofAuto().allocate(tableBytes(n, h, w), 64);
        }
        TableJob tj = tableJob;
        tj.table = table;
        tj.n = n;
        tj.h = h;
        tj.w = w;
        tj.oh = shape.outH(h);
        tj.ow = shape.outW(w);
        tj.tiles = tiles;
        tj.spread = spread(n, h, w);
        tj.parts = Math.min(par.threads(), tiles);
        try {
            par.forEach(tj.parts, tj);
        } finally {
            tj.table = null;
        }
        if (slot < CACHED_TABLES) {
            tables[slot] = table;
            tableShapes[slot] = new int[] {n, h, w};
        }
        return table;
    }

    /**
     * Pixel blocks a layer of {@code tiles} tiles and {@code columns} panels (or pairs of panels) is cut into: of
     * {@link #TILES_PER_TASK} tiles, more and smaller where that leaves fewer than {@link #TASKS_PER_THREAD} tasks
     * a thread; where the threads take shares of the blocks, a multiple of the threads' count of them, so that the
     * shares are equal (112 tiles in 7 blocks kept one of 2 threads busy for 4 of them while the other, done with
     * its 3, found nothing to take; in 8 blocks: 3x3/2 64 -> 128 at 56x56 0.41 against 0.42-0.45 ms).
     */
    private static int blocks(int tiles, int columns, int threads) {
        int blocks = (tiles + TILES_PER_TASK - 1) / TILES_PER_TASK;
        int wanted = TASKS_PER_THREAD * threads;
        if ((long) columns * blocks < wanted) {
            return Math.min(tiles, (wanted + columns - 1) / columns);
        }
        if (tiles >= STATIC_MIN_TILES) {
            return Math.min(tiles, (blocks + threads - 1) / threads * threads);
        }
        return blocks;
    }

    /**
     * A layer's tiles as tasks of (column of output channels, block of tiles) on the pool, a share of them per
     * thread, then what is left of the others' ({@link Shares}): ordered column by column, or, from
     * {@link #STATIC_MIN_TILES} tiles on, block by block (each block's columns in turn), so that a thread's share
     * is a share of the pixels, and another thread that takes over its last tasks takes single columns. Each thread
     * has {@code slotBytes} of the scratch from {@code tmpOff} on for a partial tile.
     */
    abstract static class BlockJob implements Parallel.Task {
        MemorySegment a, out, res, scratch;
        boolean relu;
        long tmpOff, slotBytes;
        int pixels, tiles, tilesPerTask, tasks, columns;
        boolean staticSplit;
        final Shares shares = new Shares();

        /** Runs the layer's tasks on {@code par}: {@code tiles} tiles by {@code columns} columns. */
        void run(MemorySegment a, MemorySegment out, MemorySegment res, boolean relu, MemorySegment scratch,
                 long tmpOff, long slotBytes, int pixels, int tiles, int columns, Parallel par) {
            this.a = a;
            this.out = out;
            this.res = res;
            this.relu = relu;
            this.scratch = scratch;
            this.tmpOff = tmpOff;
            this.slotBytes = slotBytes;
            this.pixels = pixels;
            this.tiles = tiles;
            this.columns = columns;
            int blocks = blocks(tiles, columns, par.threads());
            tilesPerTask = (tiles + blocks - 1) / blocks;
            tasks = columns * ((tiles + tilesPerTask - 1) / tilesPerTask);
            staticSplit = tiles >= STATIC_MIN_TILES;
            int parts = Math.min(par.threads(), staticSplit ? tasks / columns : tasks);
            shares.reset(tasks, parts);
            try {
                par.forEach(parts, this);
            } finally {
                this.a = this.out = this.res = this.scratch = null;
            }
        }

        @Override
        public void run(int slot) {
            long tmp = tmpOff + slot * slotBytes;
            if (staticSplit) { // this part's share of the blocks, each with all its columns in turn
                for (int t; (t = shares.claim(slot)) >= 0; ) {
                    task(t % columns, t / columns, tmp);
                }
                return;
            }
            int blocks = tasks / columns; // column by column, so that a thread's tasks in a row share their weights
            for (int t; (t = shares.claim(slot)) >= 0; ) {
                task(t / blocks, t % blocks, tmp);
            }
        }

        /** Block {@code block}'s tiles for column {@code column}; {@code tmp}: the thread's part of the scratch. */
        abstract void task(int column, int block, long tmp);
    }

    /**
     * A stride-1 1x1 layer on {@link #kernel6x4} (see {@link #wide}): the columns are pairs of panels, the tiles
     * 6 pixels. The input rows of a tile are consecutive pixels, {@code cin} floats apart, or in the spread order
     * ({@link #SPREAD}) pixels / 6 pixels apart; a partial last tile
     * reads a copy of its rows in the thread's part of the scratch (the rows after them hold whatever they held:
     * their sums are dropped) and sums into the tmp there.
     */
    private final class WideJob extends BlockJob {
        boolean spread;
        /** Whether this call runs in depth blocks ({@link #wideAhead} and an input small enough). */
        boolean blocked;

        @Override
        void task(int pair, int block, long tmp) {
            long wOff = (long) pair * cin * 2 * NRC * 4;
            long bOff = (long) 2 * pair * NRC * 4;
            long lda = cin * 4L, ldc = cout * 4L, ldt = 2 * NRC * 4L;
            int t0 = block * tilesPerTask, t1 = Math.min(tiles, (block + 1) * tilesPerTask);
            // the full tiles, then a last one of the pixels after them (consecutive in either order); in the spread
            // order tile t's rows are pixels t, t + m, ..., else t WP, t WP + 1, ...
            int m = pixels / WP;
            long tileA = spread ? lda : WP * lda, tileC = spread ? ldc : WP * ldc; // tile to tile
            long rowA = spread ? m * lda : lda, rowC = spread ? m * ldc : ldc; // row to row
            if (blocked) {
                blocks(t0, t1, m, tmp, wOff, bOff, tileA, tileC, rowA, rowC);
                return;
            }
            for (int t = t0; t < Math.min(t1, m); t++) {
                long o = t * tileC + bOff;
                kernel6x4(a, t * tileA, rowA, cin, packedW, wOff, out, o, rowC);
                finishWide(bias, bOff, out, o, rowC, out, o, rowC, res, relu, WP);
            }
            if (t1 > m) {
                tail(m, tmp, wOff, bOff, lda, ldc, ldt);
            }
        }

        /**
         * The tiles t0 .. t1 of a pair where {@link #blocked}: depth block outermost, WIDE_KC steps of every tile
         * (the first block's sums straight into out, the others' through the scratch, added), each call reading an
         * eighth of the next block ahead ({@link #touchAhead}); then bias, residual and ReLU. A partial last tile
         * (tile m) sums in the thread's scratch as in {@link #tail}, block by block in the same order.
         */
        private void blocks(int t0, int t1, int m, long tmp, long wOff, long bOff, long tileA, long tileC,
                            long rowA, long rowC) {
            long lda = cin * 4L, ldt = 2 * NRC * 4L;
            long tileBytes = Simd.align64(WP * ldt);
            long rows = tmp + tileBytes, later = rows + Simd.align64((long) WP * cin * 4);
            int full = Math.min(t1, m), p0 = m * WP, valid = pixels - p0;
            boolean tail = t1 > m;
            if (tail && valid > FEW) {
                MemorySegment.copy(a, p0 * lda, scratch, rows, valid * lda);
            }
            for (int k0 = 0; k0 < cin; k0 += WIDE_KC) {
                long w0 = wOff + (long) k0 * 4 * VB;
                long ko = k0 * 4L;
                boolean first = k0 == 0;
                for (int t = t0; t < full; t++) {
                    long o = t * tileC + bOff, ao = t * tileA + ko;
                    MemorySegment dst = first ? out : scratch;
                    long dOff = first ? o : later, dLd = first ? rowC : ldt;
                    kernel6x4Ahead(a, ao, ao + rowA, ao + 2 * rowA, ao + 3 * rowA, ao + 4 * rowA, ao + 5 * rowA,
                            WIDE_KC, packedW, w0, dst, dOff, dLd, touchAhead(packedW, w0, WIDE_KC, t - t0));
                    if (!first) {
                        addWideTile(scratch, later, out, o, rowC);
                    }
                }
                if (!tail) {
                    continue;
                }
                tailSums(p0, valid, rows, ko, WIDE_KC, w0, first ? tmp : later, lda, ldt);
                if (!first) { // (rows past the valid ones hold stale sums; finishWide drops them)
                    addWideTile(scratch, later, scratch, tmp, ldt);
                }
            }
            for (int t = t0; t < full; t++) {
                long o = t * tileC + bOff;
                finishWide(bias, bOff, out, o, rowC, out, o, rowC, res, relu, WP);
            }
            if (tail) {
                finishWide(bias, bOff, scratch, tmp, ldt, out, (long) p0 * cout * 4 + bOff, cout * 4L, res, relu,
                        valid);
            }
        }

        /** Tile t, the last, of fewer than WP pixels: through the thread's part of the scratch. */
        private void tail(int t, long tmp, long wOff, long bOff, long lda, long ldc, long ldt) {
            int p0 = t * WP;
            long o = (long) p0 * ldc + bOff;
            int valid = pixels - p0;
            long rows = tmp + Simd.align64(WP * ldt);
            if (valid > FEW) {
                MemorySegment.copy(a, p0 * lda, scratch, rows, valid * lda);
            }
            tailSums(p0, valid, rows, 0, cin, wOff, tmp, lda, ldt);
            finishWide(bias, bOff, scratch, tmp, ldt, out, o, ldc, res, relu, valid);
        }

        /**
         * The sums of the partial last tile's {@code valid} pixels (from pixel p0) over kc depth steps from byte ko
         * of their rows, the weights from byte w of the packed ones, into the scratch at dst (rows ldt apart): a
         * pixel at a time where they are {@link #FEW} or fewer, else on kernel6x4 over their rows' copy at rows.
         */
        private void tailSums(int p0, int valid, long rows, long ko, int kc, long w, long dst, long lda, long ldt) {
            if (valid <= FEW) {
                for (int r = 0; r < valid; r++) {
                    kernel1x4(a, (long) (p0 + r) * lda + ko, kc, packedW, w, scratch, dst + r * ldt);
                }
            } else {
                kernel6x4(scratch, rows + ko, lda, kc, packedW, w, scratch, dst, ldt);
            }
        }
    }

    /**
     * The offset table [tile][tap][MP] (then the per-tile flags of {@link #rowRuns}), once per input shape (see
     * {@link #table}): the float index in the input of each tile pixel's tap, or of the zero pixel where the tap
     * falls into the padding. Pixels past the last one (in the last tile) repeat it; their results are dropped.
     */
    private final class TableJob implements Parallel.Task {
        MemorySegment table;
        int n, h, w, oh, ow, tiles, parts;
        boolean spread;

        @Override
        public void run(int part) {
            int plane = oh * ow;
            long zero = (long) n * h * w * cin;
            int t0 = (int) ((long) tiles * part / parts), t1 = (int) ((long) tiles * (part + 1) / parts);
            long pixels = (long) n * plane;
            boolean runs = rowRuns();
            long spreadTiles = spread ? pixels / tileRows : 0; // tiles of the spread order, all full
            for (int t = t0; t < t1; t++) {
                boolean inside = true;
                for (int r = 0; r < tileRows; r++) {
                    int p = (int) (t < spreadTiles ? t + r * spreadTiles
                            : Math.min((long) t * tileRows + r, pixels - 1));
                    int img = p / plane, q = p - img * plane, oy = q / ow, ox = q - oy * ow;
                    int y0 = oy * stride - pad, x0 = ox * stride - pad;
                    inside &= y0 >= 0 && y0 + ks <= h && x0 >= 0 && x0 + ks <= w;
                    for (int tap = 0; tap < taps; tap++) {
                        int y = oy * stride + tap / ks - pad, x = ox * stride + tap % ks - pad;
                        long idx;
                        if (y < 0 || y >= h || x < 0 || x >= w) {
                            idx = zero;
                        } else {
                            idx = (((long) img * h + y) * w + x) * cin;
                        }
                        table.set(ValueLayout.JAVA_INT_UNALIGNED, (((long) t * taps + tap) * tileRows + r) * 4,
                                (int) idx);
                    }
                }
                if (runs) {
                    table.set(ValueLayout.JAVA_INT_UNALIGNED, flagsOff(tiles) + t * 4L, inside ? 1 : 0);
                }
            }
        }
    }

    /**
     * Writes {@code count} zeros at float index {@code at}. Vector stores, the last one masked: through a slice
     * and {@code fill}, the slice allocated and a first mapped file deoptimized the caller.
     */
    static void zeroPixel(MemorySegment seg, long at, int count) {
        FloatVector zero = FloatVector.zero(S);
        for (int i = 0; i < count; i += L) {
            zero.intoMemorySegment(seg, (at + i) * 4, LE, S.indexInRange(i, count));
        }
    }

    /**
     * The tiles of MP pixels: the columns are panels; {@link #offsets} holds the offset table, the scratch the
     * threads' tiles.
     */
    private final class TileJob extends BlockJob {
        boolean pointwise, rowRuns, spread;
        MemorySegment offsets; // the offset table (and flags): cached, or at the scratch's start

        /**
         * One task, taps outermost: each tap's (or kernel row's) slice of the weight panel, streamed once from
         * memory, serves every tile of the block while it is in L1, and the tiles' sums stay in out (a partial
         * last tile in tmp) between taps; then the bias, residual and ReLU per tile. Tile by tile instead, a
         * tile's whole panel (up to 9 x 512 x 32 floats, 590 KB for ResNet's 7x7 layers) came from memory for
         * the first tile, without compute to overlap, and from L2 for the others. Two engines alternating (2
         * threads, batch 1): ResNet-18 0.92 and ResNet-50 0.96 of the time tile by tile; splitting the depth
         * into blocks of 256 or 512 as well (taps x blocks outermost), 1.4-2.1% slower on ResNet-50 (a sum
         * added per block).
         */
        @Override
        void task(int panel, int block, long tmp) {
            int rt = tileRows, width = ConvNhwc.this.width;
            long wPanel = (long) panel * taps * cin * width * 4;
            long bOff = (long) panel * width * 4;
            long ldc = cout * 4L;
            int fullTiles = pixels / rt; // then a partial one of the pixels after them, consecutive in either order
            long ldr = spread ? fullTiles * ldc : ldc; // bytes from a full tile's row to the next in out
            long later = tmp + (long) rt * width * 4;
            int tt0 = block * tilesPerTask, tt1 = Math.min(tiles, (block + 1) * tilesPerTask);
            long flags = flagsOff(tiles);
            for (int tap = 0; tap < taps; tap++) {
                int kx = tap % ks;
                for (int k0 = 0; k0 < cin; k0 += KC) {
                    int kc = Math.min(KC, cin - k0);
                    long wOff = wPanel + ((long) tap * cin + k0) * width * 4;
                    boolean first = tap == 0 && k0 == 0;
                    for (int t = tt0; t < tt1; t++) {
                        boolean full = t < fullTiles;
                        int p0 = spread && full ? t : t * rt;
                        MemorySegment c = full ? out : scratch;
                        long cOff = full ? ((long) p0 * cout + (long) panel * width) * 4 : tmp;
                        long ld = full ? ldr : width * 4L;
                        long table = ((long) t * taps + tap) * rt * 4;
                        int from = k0;
                        int depth = kc;
                        if (pointwise) { // the fixed table from the tile's first pixel, or the last tile's own
                            table = !full ? 64 : spread ? 128 : 0;
                            from = full ? p0 * cin + k0 : k0;
                        } else if (rowRuns && offsets.get(ValueLayout.JAVA_INT_UNALIGNED, flags + t * 4L) != 0) {
                            if (kx != 0) {
                                continue; // done with the row's first tap: one run of ks * cin floats
                            }
                            depth = ks * cin; // rowRuns: ks * cin <= ROW_RUN_MAX <= KC, so k0 == 0
                        }
                        if (wideTiles) {
                            MemorySegment dst = first ? c : scratch;
                            long dOff = first ? cOff : later, dLd = first ? ld : width * 4L;
                            int few = full ? 0 : pixels - p0;
                            if (few > 0 && few <= FEW) { // a partial last tile's few pixels one at a time
                                for (int r = 0; r < few; r++) {
                                    kernel1x4(a, row(offsets, table, r, from), depth, packedW, wOff, dst,
                                            dOff + r * dLd);
                                }
                            } else {
                                if (readAhead) {
                                    kernel6x4Ahead(a, offsets, table, from, depth, packedW, wOff, dst, dOff, dLd,
                                            touchAhead(packedW, wOff, depth, t - tt0));
                                } else {
                                    kernel6x4(a, offsets, table, from, depth, packedW, wOff, dst, dOff, dLd);
                                }
                            }
                            if (!first) { // (rows past the few hold stale sums; finish drops them)
                                addWideTile(scratch, later, c, cOff, ld);
                            }
                        } else if (first) {
                            kernel(a, offsets, table, from, depth, packedW, wOff, c, cOff, ld);
                        } else {
                            kernel(a, offsets, table, from, depth, packedW, wOff, scratch, later, NRC * 4L);
                            Gemm.addTile(scratch, later, c, cOff, ld, MP);
                        }
                    }
                }
            }
            for (int t = tt0; t < tt1; t++) {
                boolean full = t < fullTiles;
                int p0 = spread && full ? t : t * rt;
                long o = ((long) p0 * cout + (long) panel * width) * 4;
                if (full) {
                    finishTile(width, bias, bOff, out, o, ldr, out, o, ldr, res, relu, rt);
                } else {
                    finishTile(width, bias, bOff, scratch, tmp, width * 4L, out, o, ldc, res, relu, pixels - p0);
                }
            }
        }
    }

    /**
     * {@link #WP} rows (pixels, {@code lda} bytes apart in a from aOff) by four vectors (two panels of output
     * channels, packed [ci][2 NRC] from byte wOff) over kc depth steps, into c (row stride ldc, the four vectors
     * consecutive). 24 accumulators, 4 weight vectors and a broadcast: 29 of AVX-512's 32 registers. The four
     * weight vectors of a step are consecutive: read from two [ci][NRC] panels, 8 or 32 KB apart (the same
     * offsets within a 4 KB page), it ran at 150 and 161 GFLOP/s in L1 where consecutive reached 171-197 and 206
     * (64 and 256 depth steps).
     */
    static void kernel6x4(MemorySegment a, long aOff, long lda, int kc, MemorySegment w, long wOff,
                          MemorySegment c, long cOff, long ldc) {
        kernel6x4(a, aOff, aOff + lda, aOff + 2 * lda, aOff + 3 * lda, aOff + 4 * lda, aOff + 5 * lda, kc, w, wOff,
                c, cOff, ldc);
    }

    /**
     * {@link #kernel6x4} for rows anywhere in a: the six rows' byte offsets a0 .. a5 (ConvNhwc's wide tiles read
     * them from the offset table).
     */
    static void kernel6x4(MemorySegment a, long aOff, long a1, long a2, long a3, long a4, long a5, int kc,
                          MemorySegment w, long wOff, MemorySegment c, long cOff, long ldc) {
        FloatVector c00 = FloatVector.zero(S); // one zero shared: 23 fewer inlined calls for C1 (see kernel6x4Ahead)
        FloatVector c01 = c00;
        FloatVector c02 = c00;
        FloatVector c03 = c00;
        FloatVector c10 = c00;
        FloatVector c11 = c00;
        FloatVector c12 = c00;
        FloatVector c13 = c00;
        FloatVector c20 = c00;
        FloatVector c21 = c00;
        FloatVector c22 = c00;
        FloatVector c23 = c00;
        FloatVector c30 = c00;
        FloatVector c31 = c00;
        FloatVector c32 = c00;
        FloatVector c33 = c00;
        FloatVector c40 = c00;
        FloatVector c41 = c00;
        FloatVector c42 = c00;
        FloatVector c43 = c00;
        FloatVector c50 = c00;
        FloatVector c51 = c00;
        FloatVector c52 = c00;
        FloatVector c53 = c00;
        for (int k = 0; k < kc; k++) {
            long wo = wOff + (long) k * (4 * VB);
            long ko = k * 4L;
            FloatVector v0 = FloatVector.fromMemorySegment(S, w, wo, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(S, w, wo + 2 * VB, LE);
            FloatVector v3 = FloatVector.fromMemorySegment(S, w, wo + 3 * VB, LE);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, aOff + ko));
            c00 = v0.fma(av, c00);
            c01 = v1.fma(av, c01);
            c02 = v2.fma(av, c02);
            c03 = v3.fma(av, c03);
            av = FloatVector.broadcast(S, a.get(F32, a1 + ko));
            c10 = v0.fma(av, c10);
            c11 = v1.fma(av, c11);
            c12 = v2.fma(av, c12);
            c13 = v3.fma(av, c13);
            av = FloatVector.broadcast(S, a.get(F32, a2 + ko));
            c20 = v0.fma(av, c20);
            c21 = v1.fma(av, c21);
            c22 = v2.fma(av, c22);
            c23 = v3.fma(av, c23);
            av = FloatVector.broadcast(S, a.get(F32, a3 + ko));
            c30 = v0.fma(av, c30);
            c31 = v1.fma(av, c31);
            c32 = v2.fma(av, c32);
            c33 = v3.fma(av, c33);
            av = FloatVector.broadcast(S, a.get(F32, a4 + ko));
            c40 = v0.fma(av, c40);
            c41 = v1.fma(av, c41);
            c42 = v2.fma(av, c42);
            c43 = v3.fma(av, c43);
            av = FloatVector.broadcast(S, a.get(F32, a5 + ko));
            c50 = v0.fma(av, c50);
            c51 = v1.fma(av, c51);
            c52 = v2.fma(av, c52);
            c53 = v3.fma(av, c53);
        }
        c00.intoMemorySegment(c, cOff, LE);
        c01.intoMemorySegment(c, cOff + VB, LE);
        c02.intoMemorySegment(c, cOff + 2 * VB, LE);
        c03.intoMemorySegment(c, cOff + 3 * VB, LE);
        c10.intoMemorySegment(c, cOff + ldc, LE);
        c11.intoMemorySegment(c, cOff + ldc + VB, LE);
        c12.intoMemorySegment(c, cOff + ldc + 2 * VB, LE);
        c13.intoMemorySegment(c, cOff + ldc + 3 * VB, LE);
        c20.intoMemorySegment(c, cOff + 2 * ldc, LE);
        c21.intoMemorySegment(c, cOff + 2 * ldc + VB, LE);
        c22.intoMemorySegment(c, cOff + 2 * ldc + 2 * VB, LE);
        c23.intoMemorySegment(c, cOff + 2 * ldc + 3 * VB, LE);
        c30.intoMemorySegment(c, cOff + 3 * ldc, LE);
        c31.intoMemorySegment(c, cOff + 3 * ldc + VB, LE);
        c32.intoMemorySegment(c, cOff + 3 * ldc + 2 * VB, LE);
        c33.intoMemorySegment(c, cOff + 3 * ldc + 3 * VB, LE);
        c40.intoMemorySegment(c, cOff + 4 * ldc, LE);
        c41.intoMemorySegment(c, cOff + 4 * ldc + VB, LE);
        c42.intoMemorySegment(c, cOff + 4 * ldc + 2 * VB, LE);
        c43.intoMemorySegment(c, cOff + 4 * ldc + 3 * VB, LE);
        c50.intoMemorySegment(c, cOff + 5 * ldc, LE);
        c51.intoMemorySegment(c, cOff + 5 * ldc + VB, LE);
        c52.intoMemorySegment(c, cOff + 5 * ldc + 2 * VB, LE);
        c53.intoMemorySegment(c, cOff + 5 * ldc + 3 * VB, LE);
    }

    /**
     * {@link #kernel6x4} that also reads one long a depth step, {@link #AHEAD_STEP} bytes apart, from byte
     * {@code ahead} of w on: weights a later call will need (see {@link #touchAhead}), so that they come from L3 or
     * memory while this call computes instead of stalling the call that needs them. Java has no prefetch
     * instruction; these are plain loads, and their XOR is returned so that C2 keeps them (callers drop it).
     *
     * <p>A copy of kernel6x4's body, not one method for both: the layers whose weights stay in L2 must not pay for
     * the load (see {@link #TOUCH_MIN_BYTES}), and a flag or a zero stride would keep it in their loop; nor the
     * loop in a shared helper, which C2 must see whole in one compilation unit (see {@link #kernel7x2}). Its
     * accumulators start from one shared zero (as kernel6x4's do): with 24 calls of {@code FloatVector.zero} and
     * the extra load, C1's OSR compile ran out of virtual registers ("COMPILE SKIPPED: out of virtual registers in
     * linear scan", every time at {@code -XX:TieredStopAtLevel=3}), and a kernel that reached tier 2 first stayed
     * there: ResNet-50 35 times slower for the rest of the process in 1 of 7 runs (see KernelCompileTest).
     */
    static long kernel6x4Ahead(MemorySegment a, long aOff, long a1, long a2, long a3, long a4, long a5, int kc,
                               MemorySegment w, long wOff, MemorySegment c, long cOff, long ldc, long ahead) {
        long touched = 0;
        FloatVector c00 = FloatVector.zero(S);
        FloatVector c01 = c00;
        FloatVector c02 = c00;
        FloatVector c03 = c00;
        FloatVector c10 = c00;
        FloatVector c11 = c00;
        FloatVector c12 = c00;
        FloatVector c13 = c00;
        FloatVector c20 = c00;
        FloatVector c21 = c00;
        FloatVector c22 = c00;
        FloatVector c23 = c00;
        FloatVector c30 = c00;
        FloatVector c31 = c00;
        FloatVector c32 = c00;
        FloatVector c33 = c00;
        FloatVector c40 = c00;
        FloatVector c41 = c00;
        FloatVector c42 = c00;
        FloatVector c43 = c00;
        FloatVector c50 = c00;
        FloatVector c51 = c00;
        FloatVector c52 = c00;
        FloatVector c53 = c00;
        for (int k = 0; k < kc; k++) {
            long wo = wOff + (long) k * (4 * VB);
            long ko = k * 4L;
            touched ^= w.get(ValueLayout.JAVA_LONG_UNALIGNED, ahead + k * AHEAD_STEP);
            FloatVector v0 = FloatVector.fromMemorySegment(S, w, wo, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(S, w, wo + 2 * VB, LE);
            FloatVector v3 = FloatVector.fromMemorySegment(S, w, wo + 3 * VB, LE);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, aOff + ko));
            c00 = v0.fma(av, c00);
            c01 = v1.fma(av, c01);
            c02 = v2.fma(av, c02);
            c03 = v3.fma(av, c03);
            av = FloatVector.broadcast(S, a.get(F32, a1 + ko));
            c10 = v0.fma(av, c10);
            c11 = v1.fma(av, c11);
            c12 = v2.fma(av, c12);
            c13 = v3.fma(av, c13);
            av = FloatVector.broadcast(S, a.get(F32, a2 + ko));
            c20 = v0.fma(av, c20);
            c21 = v1.fma(av, c21);
            c22 = v2.fma(av, c22);
            c23 = v3.fma(av, c23);
            av = FloatVector.broadcast(S, a.get(F32, a3 + ko));
            c30 = v0.fma(av, c30);
            c31 = v1.fma(av, c31);
            c32 = v2.fma(av, c32);
            c33 = v3.fma(av, c33);
            av = FloatVector.broadcast(S, a.get(F32, a4 + ko));
            c40 = v0.fma(av, c40);
            c41 = v1.fma(av, c41);
            c42 = v2.fma(av, c42);
            c43 = v3.fma(av, c43);
            av = FloatVector.broadcast(S, a.get(F32, a5 + ko));
            c50 = v0.fma(av, c50);
            c51 = v1.fma(av, c51);
            c52 = v2.fma(av, c52);
            c53 = v3.fma(av, c53);
        }
        c00.intoMemorySegment(c, cOff, LE);
        c01.intoMemorySegment(c, cOff + VB, LE);
        c02.intoMemorySegment(c, cOff + 2 * VB, LE);
        c03.intoMemorySegment(c, cOff + 3 * VB, LE);
        c10.intoMemorySegment(c, cOff + ldc, LE);
        c11.intoMemorySegment(c, cOff + ldc + VB, LE);
        c12.intoMemorySegment(c, cOff + ldc + 2 * VB, LE);
        c13.intoMemorySegment(c, cOff + ldc + 3 * VB, LE);
        c20.intoMemorySegment(c, cOff + 2 * ldc, LE);
        c21.intoMemorySegment(c, cOff + 2 * ldc + VB, LE);
        c22.intoMemorySegment(c, cOff + 2 * ldc + 2 * VB, LE);
        c23.intoMemorySegment(c, cOff + 2 * ldc + 3 * VB, LE);
        c30.intoMemorySegment(c, cOff + 3 * ldc, LE);
        c31.intoMemorySegment(c, cOff + 3 * ldc + VB, LE);
        c32.intoMemorySegment(c, cOff + 3 * ldc + 2 * VB, LE);
        c33.intoMemorySegment(c, cOff + 3 * ldc + 3 * VB, LE);
        c40.intoMemorySegment(c, cOff + 4 * ldc, LE);
        c41.intoMemorySegment(c, cOff + 4 * ldc + VB, LE);
        c42.intoMemorySegment(c, cOff + 4 * ldc + 2 * VB, LE);
        c43.intoMemorySegment(c, cOff + 4 * ldc + 3 * VB, LE);
        c50.intoMemorySegment(c, cOff + 5 * ldc, LE);
        c51.intoMemorySegment(c, cOff + 5 * ldc + VB, LE);
        c52.intoMemorySegment(c, cOff + 5 * ldc + 2 * VB, LE);
        c53.intoMemorySegment(c, cOff + 5 * ldc + 3 * VB, LE);
        return touched;
    }

    /** {@link #kernel6x4} on the six rows of a wide tile's offset table entry at byte tOff, from channel k0. */
    static void kernel6x4(MemorySegment a, MemorySegment table, long tOff, int k0, int kc, MemorySegment w,
                          long wOff, MemorySegment c, long cOff, long ldc) {
        long r01 = pair(table, tOff), r23 = pair(table, tOff + 8), r45 = pair(table, tOff + 16);
        kernel6x4(a, first(r01, k0), second(r01, k0), first(r23, k0), second(r23, k0), first(r45, k0),
                second(r45, k0), kc, w, wOff, c, cOff, ldc);
    }

    /** {@link #kernel6x4Ahead} on the six rows of a wide tile's offset table entry at byte tOff, from channel k0. */
    static long kernel6x4Ahead(MemorySegment a, MemorySegment table, long tOff, int k0, int kc, MemorySegment w,
                               long wOff, MemorySegment c, long cOff, long ldc, long ahead) {
        long r01 = pair(table, tOff), r23 = pair(table, tOff + 8), r45 = pair(table, tOff + 16);
        return kernel6x4Ahead(a, first(r01, k0), second(r01, k0), first(r23, k0), second(r23, k0), first(r45, k0),
                second(r45, k0), kc, w, wOff, c, cOff, ldc, ahead);
    }

    /**
     * Where the {@code i}-th tile of a block reads ahead ({@link #kernel6x4Ahead}) while it runs {@code steps} depth
     * steps on the wide weights at byte {@code wOff} of w ({@code steps * 4 VB} bytes: a tap's or a kernel row's
     * slice of a panel pair): the i-th eighth (mod 8) of the slice after it, which the next tap or row, or the next
     * pair's first one, reads. Eight tiles read it all; a block's first tile still fetches its own slice (a task
     * does not know which task its thread runs next). Past the end of w, the slice itself (in cache, harmless).
     */
    static long touchAhead(MemorySegment w, long wOff, int steps, int i) {
        long slice = (long) steps * 4 * VB, next = wOff + slice;
        if (next + slice > w.byteSize()) {
            return wOff;
        }
        return next + (long) (i & 7) * steps * AHEAD_STEP;
    }

    /**
     * One pixel (its input at byte aOff of a) by four vectors of output channels (weights [ci][2 NRC] from wOff)
     * over kc depth steps, into c at cOff: a wide layer's partial last tile of {@link #FEW} pixels or fewer, one
     * row at a time. Each accumulator sums the same products in the same order as kernel6x4's row: the same
     * results, bit for bit. Four accumulators are four FMA chains (latency-bound, a third of the 6x4 tile's
     * time a step for its one pixel). Two steps a trip, written out: that also keeps the method over C2's
     * 325-bytecode inlining limit, so it compiles on its own and adds no nodes to its callers' budgets.
     */
    static void kernel1x4(MemorySegment a, long aOff, int kc, MemorySegment w, long wOff, MemorySegment c,
                          long cOff) {
        FloatVector c0 = FloatVector.zero(S);
        FloatVector c1 = FloatVector.zero(S);
        FloatVector c2 = FloatVector.zero(S);
        FloatVector c3 = FloatVector.zero(S);
        int k = 0;
        for (; k + 1 < kc; k += 2) {
            long wo = wOff + (long) k * (4 * VB);
            long ao = aOff + (long) k * 4;
            FloatVector av = FloatVector.broadcast(S, a.get(F32, ao));
            c0 = FloatVector.fromMemorySegment(S, w, wo, LE).fma(av, c0);
            c1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE).fma(av, c1);
            c2 = FloatVector.fromMemorySegment(S, w, wo + 2 * VB, LE).fma(av, c2);
            c3 = FloatVector.fromMemorySegment(S, w, wo + 3 * VB, LE).fma(av, c3);
            FloatVector bv = FloatVector.broadcast(S, a.get(F32, ao + 4));
            c0 = FloatVector.fromMemorySegment(S, w, wo + 4 * VB, LE).fma(bv, c0);
            c1 = FloatVector.fromMemorySegment(S, w, wo + 5 * VB, LE).fma(bv, c1);
            c2 = FloatVector.fromMemorySegment(S, w, wo + 6 * VB, LE).fma(bv, c2);
            c3 = FloatVector.fromMemorySegment(S, w, wo + 7 * VB, LE).fma(bv, c3);
        }
        if (k < kc) {
            long wo = wOff + (long) k * (4 * VB);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, aOff + (long) k * 4));
            c0 = FloatVector.fromMemorySegment(S, w, wo, LE).fma(av, c0);
            c1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE).fma(av, c1);
            c2 = FloatVector.fromMemorySegment(S, w, wo + 2 * VB, LE).fma(av, c2);
            c3 = FloatVector.fromMemorySegment(S, w, wo + 3 * VB, LE).fma(av, c3);
        }
        c0.intoMemorySegment(c, cOff, LE);
        c1.intoMemorySegment(c, cOff + VB, LE);
        c2.intoMemorySegment(c, cOff + 2 * VB, LE);
        c3.intoMemorySegment(c, cOff + 3 * VB, LE);
    }

    /** c += t for a wide tile: WP rows of four vectors, t's rows consecutive, c's ldc bytes apart. */
    static void addWideTile(MemorySegment t, long tOff, MemorySegment c, long cOff, long ldc) {
        for (int r = 0; r < WP; r++, cOff += ldc) {
            for (int v = 0; v < 4; v++, tOff += VB) {
                long o = cOff + v * VB;
                FloatVector.fromMemorySegment(S, c, o, LE).add(FloatVector.fromMemorySegment(S, t, tOff, LE))
                        .intoMemorySegment(c, o, LE);
            }
        }
    }

    /**
     * rows x NRC floats: src (row stride srcLd) plus the bias (NRC floats at byte bOff of bias), plus res (the
     * layout of dst), ReLU, into dst (row stride ldd). src may be dst.
     */
    static void finish(MemorySegment bias, long bOff, MemorySegment src, long s, long srcLd, MemorySegment dst, long d,
                       long ldd, MemorySegment res, boolean relu, int rows) {
        FloatVector zero = FloatVector.zero(S);
        FloatVector b0 = FloatVector.fromMemorySegment(S, bias, bOff, LE);
        FloatVector b1 = FloatVector.fromMemorySegment(S, bias, bOff + VB, LE);
        for (int r = 0; r < rows; r++, s += srcLd, d += ldd) {
            FloatVector v0 = FloatVector.fromMemorySegment(S, src, s, LE).add(b0);
            FloatVector v1 = FloatVector.fromMemorySegment(S, src, s + VB, LE).add(b1);
            if (res != null) {
                v0 = v0.add(FloatVector.fromMemorySegment(S, res, d, LE));
                v1 = v1.add(FloatVector.fromMemorySegment(S, res, d + VB, LE));
            }
            if (relu) {
                v0 = v0.max(zero);
                v1 = v1.max(zero);
            }
            v0.intoMemorySegment(dst, d, LE);
            v1.intoMemorySegment(dst, d + VB, LE);
        }
    }

    /** {@link #finish} of rows x width floats: one panel (NRC), or a wide tile's two ({@link #finishWide}). */
    static void finishTile(int width, MemorySegment bias, long bOff, MemorySegment src, long s, long srcLd,
                           MemorySegment dst, long d, long ldd, MemorySegment res, boolean relu, int rows) {
        if (width == 2 * NRC) {
            finishWide(bias, bOff, src, s, srcLd, dst, d, ldd, res, relu, rows);
        } else {
            finish(bias, bOff, src, s, srcLd, dst, d, ldd, res, relu, rows);
        }
    }

    /**
     * {@link #finish} of rows x 2 NRC floats (a wide tile's two panels), four vectors a row: in one pass rather
     * than one per panel, the loop and the segment accesses' checks once a row for four vectors. A 1x1 64 -> 256
     * at 56 x 56 with a residual (one thread, both versions alternating): 0.910 and 0.924 of the time (faster in
     * 38 and 37 of 40 rounds); 256 -> 64, with four times the depth per tile, 0.973 and 1.008.
     */
    static void finishWide(MemorySegment bias, long bOff, MemorySegment src, long s, long srcLd, MemorySegment dst,
                           long d, long ldd, MemorySegment res, boolean relu, int rows) {
        finishWide(bias, bOff, src, s, srcLd, dst, d, ldd, res, d, ldd, relu, rows);
    }

    /**
     * {@link #finishWide} with the residual at its own byte offset {@code r} and row stride {@code resLd} (another
     * sum in the scratch: {@link ProjectedConvNhwc}'s projection) instead of dst's.
     */
    static void finishWide(MemorySegment bias, long bOff, MemorySegment src, long s, long srcLd, MemorySegment dst,
                           long d, long ldd, MemorySegment res, long r, long resLd, boolean relu, int rows) {
        FloatVector zero = FloatVector.zero(S);
        FloatVector b0 = FloatVector.fromMemorySegment(S, bias, bOff, LE);
        FloatVector b1 = FloatVector.fromMemorySegment(S, bias, bOff + VB, LE);
        FloatVector b2 = FloatVector.fromMemorySegment(S, bias, bOff + 2 * VB, LE);
        FloatVector b3 = FloatVector.fromMemorySegment(S, bias, bOff + 3 * VB, LE);
        for (int row = 0; row < rows; row++, s += srcLd, d += ldd, r += resLd) {
            FloatVector v0 = FloatVector.fromMemorySegment(S, src, s, LE).add(b0);
            FloatVector v1 = FloatVector.fromMemorySegment(S, src, s + VB, LE).add(b1);
            FloatVector v2 = FloatVector.fromMemorySegment(S, src, s + 2 * VB, LE).add(b2);
            FloatVector v3 = FloatVector.fromMemorySegment(S, src, s + 3 * VB, LE).add(b3);
            if (res != null) {
                v0 = v0.add(FloatVector.fromMemorySegment(S, res, r, LE));
                v1 = v1.add(FloatVector.fromMemorySegment(S, res, r + VB, LE));
                v2 = v2.add(FloatVector.fromMemorySegment(S, res, r + 2 * VB, LE));
                v3 = v3.add(FloatVector.fromMemorySegment(S, res, r + 3 * VB, LE));
            }
            if (relu) {
                v0 = v0.max(zero);
                v1 = v1.max(zero);
                v2 = v2.max(zero);
                v3 = v3.max(zero);
            }
            v0.intoMemorySegment(dst, d, LE);
            v1.intoMemorySegment(dst, d + VB, LE);
            v2.intoMemorySegment(dst, d + 2 * VB, LE);
            v3.intoMemorySegment(dst, d + 3 * VB, LE);
        }
    }

    static void kernel(MemorySegment a, MemorySegment table, long tOff, int k0, int kc, MemorySegment w,
                               long wOff, MemorySegment c, long cOff, long ldc) {
        kernel(MP, a, table, tOff, k0, kc, w, wOff, c, cOff, ldc);
    }

    /**
     * {@link #kernel} for a register tile of {@code rows} rows: 7 (only where MP is 7) or 6, their input offsets
     * read from the table entry at byte tOff here, outside the micro-kernels (see {@link #kernel7x2}).
     */
    static void kernel(int rows, MemorySegment a, MemorySegment table, long tOff, int k0, int kc, MemorySegment w,
                       long wOff, MemorySegment c, long cOff, long ldc) {
        long r01 = pair(table, tOff), r23 = pair(table, tOff + 8), r45 = pair(table, tOff + 16);
        long a0 = first(r01, k0), a1 = second(r01, k0), a2 = first(r23, k0), a3 = second(r23, k0);
        long a4 = first(r45, k0), a5 = second(r45, k0);
        if (rows == 7) {
            kernel7x2(a, a0, a1, a2, a3, a4, a5, row(table, tOff, 6, k0), kc, w, wOff, c, cOff, ldc);
        } else {
            kernel6x2(a, a0, a1, a2, a3, a4, a5, kc, w, wOff, c, cOff, ldc);
        }
    }

    // A table entry's rows read two at a time (each segment read costs C2 some 700 nodes to parse, which count
    // against the inlining budget of the caller the reads are inlined into): the pair of int float indices at
    // byte off as one long, then each as the byte offset of channel k0 of that row.
    private static final boolean LITTLE = java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN;

    /** Row r of the table entry at byte tOff alone, as the byte offset of its channel k0. */
    private static long row(MemorySegment table, long tOff, int r, int k0) {
        return (table.get(ValueLayout.JAVA_INT_UNALIGNED, tOff + 4L * r) + (long) k0) * 4;
    }

    private static long pair(MemorySegment table, long off) {
        return table.get(ValueLayout.JAVA_LONG_UNALIGNED, off);
    }

    /** The first int of a pair (the lower address), as a byte offset from channel k0 on. */
    private static long first(long pair, int k0) {
        return ((LITTLE ? (int) pair : (int) (pair >> 32)) + (long) k0) * 4;
    }

    private static long second(long pair, int k0) {
        return ((LITTLE ? (int) (pair >> 32) : (int) pair) + (long) k0) * 4;
    }

    // The two micro-kernels: MP rows (pixels) by two vectors (output channels) over one depth block of one tap,
    // in the shape of Gemm's kernels, for the same reasons (see there): one counted loop with constant strides,
    // accumulators from zero, stores inline; the caller adds a later block's tile (addTile) and the bias
    // (finish). Per call: the tap's MP input offsets from the table, kc depth steps, the tile stored to c.
    // Measured against two variants that ran as fast when compiled: a kernel looping over the taps as well, and
    // one starting its accumulators from the bias or the tile. C1 could not compile either ("out of virtual
    // registers"), and C2, compiling them from the interpreter's profile alone, in some runs failed the Vector
    // API's FMA intrinsic and boxed the vectors: gigabytes allocated per inference (see Simd on what set that
    // off).
    /**
     * The micro-kernel on rows at byte offsets a0 .. a6 of a; {@link #kernel} reads them from the table: the
     * table's reads in here cost C2 about 5,000 of the 18,000 nodes it parses a method in before it defers
     * the rest of the inlining (NodeCountInliningCutoff), and deferred vector operations came back boxed in
     * some runs (AllocationFreeTest after other tests in a fresh-clone CI run: 2 GB per 20 inferences).
     */
    static void kernel7x2(MemorySegment a, long a0, long a1, long a2, long a3, long a4, long a5, long a6,
                          int kc, MemorySegment w, long wOff, MemorySegment c, long cOff, long ldc) {
        FloatVector c00 = FloatVector.zero(S);
        FloatVector c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S);
        FloatVector c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S);
        FloatVector c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S);
        FloatVector c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S);
        FloatVector c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S);
        FloatVector c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S);
        FloatVector c61 = FloatVector.zero(S);
        for (int k = 0; k < kc; k++) {
            long wo = wOff + (long) k * (2 * VB);
            long ko = k * 4L;
            FloatVector w0 = FloatVector.fromMemorySegment(S, w, wo, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, a0 + ko));
            c00 = w0.fma(av, c00);
            c01 = w1.fma(av, c01);
            av = FloatVector.broadcast(S, a.get(F32, a1 + ko));
            c10 = w0.fma(av, c10);
            c11 = w1.fma(av, c11);
            av = FloatVector.broadcast(S, a.get(F32, a2 + ko));
            c20 = w0.fma(av, c20);
            c21 = w1.fma(av, c21);
            av = FloatVector.broadcast(S, a.get(F32, a3 + ko));
            c30 = w0.fma(av, c30);
            c31 = w1.fma(av, c31);
            av = FloatVector.broadcast(S, a.get(F32, a4 + ko));
            c40 = w0.fma(av, c40);
            c41 = w1.fma(av, c41);
            av = FloatVector.broadcast(S, a.get(F32, a5 + ko));
            c50 = w0.fma(av, c50);
            c51 = w1.fma(av, c51);
            av = FloatVector.broadcast(S, a.get(F32, a6 + ko));
            c60 = w0.fma(av, c60);
            c61 = w1.fma(av, c61);
        }
        c00.intoMemorySegment(c, cOff, LE);
        c01.intoMemorySegment(c, cOff + VB, LE);
        c10.intoMemorySegment(c, cOff + ldc, LE);
        c11.intoMemorySegment(c, cOff + ldc + VB, LE);
        c20.intoMemorySegment(c, cOff + 2 * ldc, LE);
        c21.intoMemorySegment(c, cOff + 2 * ldc + VB, LE);
        c30.intoMemorySegment(c, cOff + 3 * ldc, LE);
        c31.intoMemorySegment(c, cOff + 3 * ldc + VB, LE);
        c40.intoMemorySegment(c, cOff + 4 * ldc, LE);
        c41.intoMemorySegment(c, cOff + 4 * ldc + VB, LE);
        c50.intoMemorySegment(c, cOff + 5 * ldc, LE);
        c51.intoMemorySegment(c, cOff + 5 * ldc + VB, LE);
        c60.intoMemorySegment(c, cOff + 6 * ldc, LE);
        c61.intoMemorySegment(c, cOff + 6 * ldc + VB, LE);
    }

    /** {@link #kernel7x2}'s row-offset form for 6 rows. */
    static void kernel6x2(MemorySegment a, long a0, long a1, long a2, long a3, long a4, long a5,
                          int kc, MemorySegment w, long wOff, MemorySegment c, long cOff, long ldc) {
        FloatVector c00 = FloatVector.zero(S);
        FloatVector c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S);
        FloatVector c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S);
        FloatVector c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S);
        FloatVector c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S);
        FloatVector c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S);
        FloatVector c51 = FloatVector.zero(S);
        for (int k = 0; k < kc; k++) {
            long wo = wOff + (long) k * (2 * VB);
            long ko = k * 4L;
            FloatVector w0 = FloatVector.fromMemorySegment(S, w, wo, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(S, w, wo + VB, LE);
            FloatVector av = FloatVector.broadcast(S, a.get(F32, a0 + ko));
            c00 = w0.fma(av, c00);
            c01 = w1.fma(av, c01);
            av = FloatVector.broadcast(S, a.get(F32, a1 + ko));
            c10 = w0.fma(av, c10);
            c11 = w1.fma(av, c11);
            av = FloatVector.broadcast(S, a.get(F32, a2 + ko));
            c20 = w0.fma(av, c20);
            c21 = w1.fma(av, c21);
            av = FloatVector.broadcast(S, a.get(F32, a3 + ko));
            c30 = w0.fma(av, c30);
            c31 = w1.fma(av, c31);
            av = FloatVector.broadcast(S, a.get(F32, a4 + ko));
            c40 = w0.fma(av, c40);
            c41 = w1.fma(av, c41);
            av = FloatVector.broadcast(S, a.get(F32, a5 + ko));
            c50 = w0.fma(av, c50);
            c51 = w1.fma(av, c51);
        }
        c00.intoMemorySegment(c, cOff, LE);
        c01.intoMemorySegment(c, cOff + VB, LE);
        c10.intoMemorySegment(c, cOff + ldc, LE);
        c11.intoMemorySegment(c, cOff + ldc + VB, LE);
        c20.intoMemorySegment(c, cOff + 2 * ldc, LE);
        c21.intoMemorySegment(c, cOff + 2 * ldc + VB, LE);
        c30.intoMemorySegment(c, cOff + 3 * ldc, LE);
        c31.intoMemorySegment(c, cOff + 3 * ldc + VB, LE);
        c40.intoMemorySegment(c, cOff + 4 * ldc, LE);
        c41.intoMemorySegment(c, cOff + 4 * ldc + VB, LE);
        c50.intoMemorySegment(c, cOff + 5 * ldc, LE);
        c51.intoMemorySegment(c, cOff + 5 * ldc + VB, LE);
    }
}
