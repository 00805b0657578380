package dev.skipjack.engine.kernels;

import static dev.skipjack.engine.kernels.Gemm.F32;
import static dev.skipjack.engine.kernels.Gemm.LE;
import static dev.skipjack.engine.kernels.Gemm.MR;
import static dev.skipjack.engine.kernels.Gemm.NR;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * 2-D convolution as a GEMM, {@code out[co][p] = sum_k W[co][k] * B[k][p]} per image and group, followed by the
 * folded batch-norm bias, an optional residual and an optional ReLU in one pass over the result.
 *
 * <p>The depth index k runs over (ci, ky, kx), channel outermost, as in the OIHW weights: the taps of one channel
 * read the same few phase planes one after another, so consecutive rows of B come from the same cache lines
 * (with the tap outermost, every row came from another channel's plane; the probes, whose planes all sit in
 * cache, timed both orders the same). B, the column matrix, is never built:
 * <ul>
 *   <li>{@code DIRECT} (1x1, stride 1, no padding): B is the input itself, [cin][h*w].</li>
 *   <li>{@code PHASED} (everything else): a first pass copies the input into zero-padded phase planes
 *       [n][phase][cin][hph*wph], where phase (py, px) holds the padded input's rows py, py+s, ... and
 *       columns px, px+s, ... for stride s (a single phase for stride 1). The output is computed on the phase
 *       width wph: output (oy, ox) is GEMM column {@code q = oy * wph + ox}, and tap (ky, kx) of channel ci
 *       reads phase (ky % s, kx % s) at {@code q + (ky / s) * wph + kx / s}. Every row of B is then a
 *       contiguous run of a phase plane, for any kernel size and stride. Columns with ox >= ow are junk
 *       (at most ceil(k/s) - 1 per output row) that the epilogue skips.</li>
 *   <li>{@code WINOGRAD} (3x3, stride 1, padding 1, one group, with enough channels): Winograd's F(2x2, 3x3),
 *       2.25 times fewer multiplies, on the same micro-kernel; see {@link Winograd3x3}. Set
 *       {@code -Dskipjack.conv.winograd=false} to turn it off.</li>
 * </ul>
 *
 * <p>Work is split into tasks (image, group, block of output channels, block of GEMM columns) that the pool's
 * threads claim from a counter. For each depth block of at most KC (192) rows a task copies its rows of B
 * into packed panels [kc][NR] in its scratch; each panel (kc x NR floats, in L1) then meets the packed
 * weights of up to MC (256) output channels (streaming from L2) in the register-tiled micro-kernel
 * ({@link Gemm}). The task accumulates its block of the result in scratch; after the last depth block the
 * epilogue takes the block, row by row, into {@code out}.
 */
public final class Conv2d implements ConvKernel {
    private static final VectorSpecies<Float> S = Gemm.S;
    private static final int L = Gemm.L;

    // Cache blocking. The system properties are for tuning experiments (see bench's ConvProbe), not for users.
    /** Largest depth block: B's micro-panel is KC x NR floats and should stay in L1. */
    static final int KC = Integer.getInteger("skipjack.conv.kc", 192);
    /** Largest block of output channels per task: its packed weights (MC x KC) should stay in L2. */
    static final int MC = Integer.getInteger("skipjack.conv.mc", 256) / 8 * 8;
    /** Whether 3x3 stride-1 convolutions use Winograd F(2x2, 3x3) ({@link Winograd3x3}). */
    static final boolean WINOGRAD = !"false".equals(System.getProperty("skipjack.conv.winograd"));
    /** Output columns per task, in panels of NR. */
    static final int NC_PANELS = Integer.getInteger("skipjack.conv.ncPanels", 6);
    /**
     * DIRECT tasks of at most this many output channels, on planes of at least {@link #IN_PLACE_MIN_PLANE}
     * pixels, read B's whole panels in place, rows a plane apart, instead of packing them: a packed panel pays
     * for its copy by being read from L1 once per weight panel (MR channels), and a task of few channels reads
     * it too few times. Inside whole ResNet-50 passes (two engines alternating, 2 threads) the bottlenecks'
     * first 1x1 (256 -> 64 at 56x56, 512 -> 128 at 28x28, 1024 -> 256 at 14x14 split into two tasks of 128
     * channels) ran 6-26% faster; their third 1x1 (tasks of 256 channels) 2-5% slower, and 7x7 planes (49
     * floats a row apart, a panel's reads straddling lines) 6-13% slower, so neither reads in place.
     */
    static final int IN_PLACE_ROWS = Integer.getInteger("skipjack.conv.inPlaceRows", 128);
    /** See {@link #IN_PLACE_ROWS}. */
    static final int IN_PLACE_MIN_PLANE = Integer.getInteger("skipjack.conv.inPlaceMinPlane", 100);
    /**
     * Layers whose weights (per group) take at least this many bytes are split into at least one task per
     * thread, not {@link #MIN_TASKS_PER_THREAD}: their weights come from memory on every call at batch 1, and
     * every extra channel block packs the same columns again for fewer multiply-adds. Inside whole passes (two
     * engines alternating, 2 threads) ResNet's last stage (4-9.4 MB per layer) ran 10-26% faster this way,
     * ResNet-18 5-6% and ResNet-50 3.3% in all; with the bar at 1 MB, ResNet-50's 1 MB and 2.4 MB layers of
     * the third stage ran 15-37% slower.
     */
    static final long HEAVY_BYTES = Long.getLong("skipjack.conv.heavyBytes", 3L << 20);
    /** Tasks per thread a layer is split into at least, by smaller blocks of output channels. */
    static final int MIN_TASKS_PER_THREAD = Integer.getInteger("skipjack.conv.tasksPerThread", 2);

    /** Where the GEMM's B operand comes from; see the class comment. */
    public enum Path { DIRECT, PHASED, WINOGRAD }

    private final ConvShape shape;
    private final Path path;
    private final int ks, stride, pad, cinG, coutG;
    private final int k;       // GEMM depth per group: ks * ks * cinG
    private final int mPanels; // ceil(coutG / MR)
    // PHASED reads phase planes (WINOGRAD makes its own)
    private final boolean viaPhases;
    // [groups][depth block][mPanels][kc][MR], depth k = ci * ks * ks + ky * ks + kx cut into blocks of KC (the
    // last one shorter): MR output channels interleaved along the depth, so the micro-kernel reads MR
    // consecutive weights per step; rows past coutG are zero. Depth block outermost, so that what a task reads
    // for one depth block (its channel block's panels) is one contiguous run: at batch 1 a network's weights
    // come from memory on every call, and the hardware prefetcher streams one long run well but not many 6 KB
    // runs 30-150 KB apart (the panel-outermost layout). Inside whole ResNet-50 passes (2 threads) this took
    // layer 3's convolutions 7-13% and layer 4's 12-22% faster; alone, with their weights in cache, no change.
    private final MemorySegment packedW;
    // [cout]
    private final MemorySegment bias;
    // WINOGRAD only; then packedW is null
    private final Winograd3x3 winograd;
    private final TileJob tileJob = new TileJob();
    private final PhaseJob phaseJob = new PhaseJob();
    private final int phases1; // phases per axis that some tap reads: min(stride, kernel)

    /**
     * Packs the weights once into {@code arena}.
     *
     * @param shape  the convolution's geometry
     * @param weight [cout][cin/groups][k][k] float32 (OIHW, batch norm folded in); may be read-only
     * @param bias   [cout] float32; may be read-only
     * @param arena  owns the packed copy
     */
    public Conv2d(ConvShape shape, MemorySegment weight, MemorySegment bias, Arena arena) {
        this(shape, weight, bias, arena, choosePath(shape));
    }

    Conv2d(ConvShape shape, MemorySegment weight, MemorySegment bias, Arena arena, Path path) {
        this.shape = shape;
        this.path = path;
        this.ks = shape.kernel();
        this.stride = shape.stride();
        this.pad = shape.pad();
        this.cinG = shape.cinPerGroup();
        this.coutG = shape.coutPerGroup();
        this.k = shape.gemmK();
        this.mPanels = (coutG + MR - 1) / MR;
        this.phases1 = Math.min(stride, ks);
        this.viaPhases = path == Path.PHASED;
        if (path == Path.DIRECT && (ks != 1 || stride != 1 || pad != 0)) {
            throw new IllegalArgumentException("Conv2d: path " + path + " cannot run " + shape);
        }
        shape.requireWeights("Conv2d", weight, bias);
        if (path == Path.WINOGRAD && !winogradFits(shape)) {
            throw new IllegalArgumentException("Conv2d: path WINOGRAD cannot run " + shape);
        }
        this.bias = arena.allocate(shape.cout() * 4L, 64);
        MemorySegment.copy(bias, 0, this.bias, 0, shape.cout() * 4L);
        if (path == Path.WINOGRAD) {
            this.winograd = new Winograd3x3(cinG, coutG, weight, this.bias, arena);
            this.packedW = null;
            return;
        }
        this.winograd = null;
        int groups = shape.groups();
        this.packedW = arena.allocate((long) groups * mPanels * k * MR * 4, 64);
        // Panel by panel: its MR weight rows (k floats each, consecutive in OIHW) into an array, then each
        // depth block interleaved in an array and copied out in one piece. Element by element through the
        // segments, with the offsets recomputed each time, ResNet-50 took about a second to pack.
        float[] rows = new float[MR * k];
        float[] block = new float[MR * Math.min(KC, k)];
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < mPanels; i++) {
                int valid = Math.min(MR, coutG - i * MR);
                Arrays.fill(rows, valid * k, MR * k, 0f); // rows past coutG are zero
                MemorySegment.copy(weight, ValueLayout.JAVA_FLOAT_UNALIGNED, (long) (g * coutG + i * MR) * k * 4, rows,
                        0, valid * k);
                for (int k0 = 0; k0 < k; k0 += KC) {
                    int kc = Math.min(KC, k - k0);
                    for (int lane = 0; lane < MR; lane++) {
                        for (int kk = 0, from = lane * k + k0; kk < kc; kk++) {
                            block[kk * MR + lane] = rows[from + kk];
                        }
                    }
                    MemorySegment.copy(block, 0, packedW, ValueLayout.JAVA_FLOAT_UNALIGNED,
                            packedOffset(g, i, k0, kc) * 4, kc * MR);
                }
            }
        }
    }

    /** Float offset in packedW of panel i's depth block at k0 (of kc rows) in group g. */
    private long packedOffset(int g, int i, int k0, int kc) {
        return ((long) g * k + k0) * mPanels * MR + (long) i * kc * MR;
    }

    static Path choosePath(ConvShape s) {
        if (s.kernel() == 1 && s.stride() == 1 && s.pad() == 0) {
            return Path.DIRECT;
        }
        // Winograd's transformed weights are 16/9 the size of the weights. A layer as large as ResNet's last
        // stage (512 x 512) sees only 7x7 outputs at 224x224, so at batch 1 it is bound by reading its
        // weights, and there Winograd lost on AVX-512 (2.85 ms against 1.95 ms) while still winning on AVX2
        // (2.9 ms against 4.6 ms), where the arithmetic takes twice as long.
        boolean weightBound = (long) s.cin() * s.cout() >= 512L * 512 && Gemm.L >= 16;
        if (winogradFits(s) && s.cin() >= 16 && s.cout() >= 16 && !weightBound && WINOGRAD) {
            return Path.WINOGRAD;
        }
        return Path.PHASED;
    }

    /**
     * Panels of MR output channels per task: {@code panels}, halved while the layer would have fewer than
     * {@code perThread} tasks per thread, where each channel block makes {@code tasksPerBlock} tasks (images x
     * groups x column blocks). Tasks are claimed one at a time, so a thread waits for at most one at the end of
     * a layer; a layer wants several per thread (see {@link #MIN_TASKS_PER_THREAD}), unless every extra channel
     * block costs more than that (see {@link #HEAVY_BYTES} and Winograd3x3).
     */
    static int channelBlockPanels(int mPanels, int panels, long tasksPerBlock, int threads, int perThread) {
        long wanted = (long) perThread * threads;
        while (panels > 1 && tasksPerBlock * ((mPanels + panels - 1) / panels) < wanted) {
            panels = (panels + 1) / 2;
        }
        return panels;
    }

    private static boolean winogradFits(ConvShape s) {
        return s.kernel() == 3 && s.stride() == 1 && s.pad() == 1 && s.groups() == 1;
    }

    @Override
    public ConvShape shape() {
        return shape;
    }

    /** The packed weights (null on the Winograd path). */
    @Override
    public MemorySegment weights() {
        return packedW;
    }

    @Override
    public String algorithm() {
        return path.name();
    }

    /** The algorithm this convolution runs, chosen from its geometry. */
    public Path path() {
        return path;
    }

    /** Width of a phase plane: the padded width over the stride, rounded up. */
    private int wph(int w) {
        return (w + 2 * pad + stride - 1) / stride;
    }

    private int hph(int h) {
        return (h + 2 * pad + stride - 1) / stride;
    }

    /** Output columns of one image in the GEMM: pixels for DIRECT, else output rows times the phase width. */
    private int gemmCols(int h, int w) {
        return path == Path.DIRECT ? h * w : shape.outH(h) * wph(w);
    }

    /** Columns per task: NC_PANELS panels, or fewer if the layer has fewer. */
    private static int ncFor(int cols) {
        return Math.min(NC_PANELS, (cols + NR - 1) / NR) * NR;
    }

    private int mcRows() {
        return Math.min(MC, mPanels * MR);
    }

    private long slotBytes(int cols) {
        int nc = ncFor(cols);
        long floats = (long) mcRows() * nc + (long) Math.min(KC, k) * nc + (long) MR * NR;
        return Simd.align64(floats * 4);
    }

    private long phasePlane(int h, int w) {
        return (long) hph(h) * wph(w);
    }

    /** Floats past the last phase plane that junk columns may read: see {@link PhaseJob}. */
    private int slack() {
        return NR + ks + 16;
    }

    /** Bytes of the shared first part of the scratch: the phase planes. */
    private long phaseBytes(int n, int h, int w) {
        if (!viaPhases) {
            return 0;
        }
        long floats = (long) n * phases1 * phases1 * shape.cin() * phasePlane(h, w) + slack();
        return Simd.align64(floats * 4);
    }

    /**
     * Bytes of scratch that {@link #forward} needs for an n x cin x h x w input on a pool of up to
     * {@code threads} threads. The scratch must be 64-byte aligned; its contents need not be initialized.
     */
    @Override
    public long scratchBytes(int n, int h, int w, int threads) {
        shape.outH(h);
        shape.outW(w);
        if (winograd != null) {
            return winograd.scratchBytes(n, h, w, threads);
        }
        return phaseBytes(n, h, w) + slotBytes(gemmCols(h, w)) * Math.max(1, threads);
    }

    /**
     * {@code out = relu?(conv(in) + bias + residual)}.
     *
     * @param in       [n][cin][h][w]
     * @param out      [n][cout][oh][ow]; must not overlap {@code in} or {@code scratch}
     * @param residual null or [n][cout][oh][ow]; must not alias {@code out}
     * @param relu     whether to clamp at zero after the residual add
     * @param scratch  at least {@link #scratchBytes}{@code (n, h, w, par.threads())} bytes
     * @param par      the pool that runs the tasks
     */
    @Override
    public void forward(MemorySegment in, MemorySegment out, MemorySegment residual, boolean relu,
                        int n, int h, int w, MemorySegment scratch, Parallel par) {
        if (n < 1) {
            throw new IllegalArgumentException("Conv2d " + shape + ": batch must be >= 1, got " + n);
        }
        int oh = shape.outH(h), ow = shape.outW(w);
        int threads = par.threads();
        long need = scratchBytes(n, h, w, threads);
        if (scratch.byteSize() < need) {
            throw new IllegalArgumentException("Conv2d " + shape + ": scratch of " + scratch.byteSize()
                    + " bytes, needs " + need + " for n=" + n + " h=" + h + " w=" + w + " threads=" + threads);
        }
        if (winograd != null) {
            winograd.forward(in, out, residual, relu, n, h, w, scratch, par);
            return;
        }
        int cols = gemmCols(h, w);
        int nc = ncFor(cols);
        int nBlocks = (cols + nc - 1) / nc;
        int perThread = (long) coutG * k * 4 >= HEAVY_BYTES ? 1 : MIN_TASKS_PER_THREAD;
        int mBlockPanels = channelBlockPanels(mPanels, mcRows() / MR, (long) n * shape.groups() * nBlocks, threads,
                perThread);
        int mBlocks = (mPanels + mBlockPanels - 1) / mBlockPanels;
        synchronized (tileJob) {
            long shared = phaseBytes(n, h, w);
            if (viaPhases) {
                splitPhases(in, scratch, n, h, w, par);
            }
            TileJob j = tileJob;
            j.bind(in, out, residual, relu, scratch, h, w, oh, ow);
            j.cols = cols;
            // DIRECT's columns are the output pixels themselves, and so are PHASED's where a phase row is exactly
            // an output row (1x1 stride 2, no padding): one run per block row, no junk to skip. Row by row, the
            // runs of ResNet's downsampling layers were 7-28 floats and their epilogue took 3-5 times as long.
            boolean pixels = path == Path.DIRECT || wph(w) == ow;
            j.wq = pixels ? cols : wph(w);
            j.rowW = pixels ? cols : ow;
            j.nc = nc;
            j.nBlocks = nBlocks;
            j.mBlocks = mBlocks;
            j.mBlockPanels = mBlockPanels;
            j.tasks = n * shape.groups() * mBlocks * nBlocks;
            j.slot0 = shared;
            j.slotBytes = slotBytes(cols);
            j.next.set(0);
            try {
                par.forEach(Math.min(threads, j.tasks), j);
            } finally {
                j.unbind();
            }
        }
    }

    /** Float offset in the phase buffer of tap (ky, kx), channel 0 of group g, GEMM column 0. */
    private long tapOffset(int img, int g, int ky, int kx, long plane, int wp) {
        int phase = (ky % stride) * phases1 + kx % stride;
        long planeIdx = ((long) img * phases1 * phases1 + phase) * shape.cin() + (long) g * cinG;
        return planeIdx * plane + (long) (ky / stride) * wp + kx / stride;
    }

    /** The phase pass (see {@link PhaseJob}) into the start of {@code scratch}. */
    private void splitPhases(MemorySegment in, MemorySegment scratch, int n, int h, int w, Parallel par) {
        PhaseJob pj = phaseJob;
        synchronized (pj) {
            pj.in = in;
            pj.xp = scratch;
            pj.planes = n * phases1 * phases1 * shape.cin();
            pj.h = h;
            pj.w = w;
            pj.parts = Math.min(par.threads(), pj.planes);
            try {
                par.forEach(pj.parts, pj);
            } finally {
                pj.in = pj.xp = null;
            }
        }
    }

    /**
     * The first pass of PHASED: [n][cin][h][w] into zero-padded phase planes
     * [n][py][px][cin][hph][wph] with plane element (y, x) = padded input (y * s + py, x * s + px), for the
     * phases some tap reads (py, px < min(stride, kernel)). Then zeroes the slack after the last plane, which
     * junk columns of the last panel read.
     */
    private final class PhaseJob implements Parallel.Task {
        MemorySegment in, xp;
        int planes, h, w, parts;

        @Override
        public void run(int part) {
            Phases.splitShare(in, xp, shape.cin(), h, w, stride, pad, phases1, planes, part, parts, slack());
        }
    }


    /**
     * One forward of {@link Path#DIRECT} or {@link Path#PHASED}: tasks of (image, group, channel block, column
     * block). {@link #run} is one thread's share, claiming task indices from {@link #next} until none are left,
     * each with the thread's scratch slot.
     */
    private final class TileJob implements Parallel.Task {
        MemorySegment in, out, res, scratch;
        boolean relu;
        int h, w, oh, ow, tasks;
        long slot0, slotBytes;
        final AtomicInteger next = new AtomicInteger();
        int cols, wq, rowW, nc, nBlocks, mBlocks, mBlockPanels;

        /** One forward's tensors and sizes: in [n][cin][h][w], out and res [n][cout][oh][ow]. */
        void bind(MemorySegment in, MemorySegment out, MemorySegment res, boolean relu, MemorySegment scratch,
                  int h, int w, int oh, int ow) {
            this.in = in;
            this.out = out;
            this.res = res;
            this.relu = relu;
            this.scratch = scratch;
            this.h = h;
            this.w = w;
            this.oh = oh;
            this.ow = ow;
        }

        /** Drops the forward's segments, so that the job keeps no tensor alive between calls. */
        void unbind() {
            in = out = res = scratch = null;
        }

        @Override
        public void run(int slot) {
            long slotOff = slot0 + slot * slotBytes;
            for (int t; (t = next.getAndIncrement()) < tasks; ) {
                task(t, slotOff);
            }
        }

        /** Task t, with this thread's scratch slot at byte slotOff. */
        private void task(int t, long slotOff) {
            int nb = t % nBlocks;
            t /= nBlocks;
            int mb = t % mBlocks;
            t /= mBlocks;
            int groups = shape.groups();
            int g = t % groups;
            int img = t / groups;

            int q0 = nb * nc;
            int qn = Math.min(nc, cols - q0);
            int jPanels = (qn + NR - 1) / NR;
            int i0 = mb * mBlockPanels;
            int i1 = Math.min(mPanels, i0 + mBlockPanels);
            // [mBlockPanels * MR][nc]: this task's block of the result, accumulated over depth blocks
            long cp = slotOff;
            long ldcp = nc * 4L;
            // [jPanels][kc][NR]: packed rows of B
            long bp = slotOff + (long) mcRows() * nc * 4;
            // [MR][NR]: a tile computed before it is added to cp
            long tmp = bp + (long) Math.min(KC, k) * nc * 4;
            long inImage = (long) (img * shape.cin() + g * cinG) * h * w * 4;
            int rows = Math.min(coutG, i1 * MR) - i0 * MR;
            int co0 = g * coutG + i0 * MR;
            boolean direct = path == Path.DIRECT;
            long plane = direct ? (long) h * w : phasePlane(h, w);
            int wp = direct ? w : wph(w);
            boolean inPlace = direct && plane >= IN_PLACE_MIN_PLANE && (i1 - i0) * MR <= IN_PLACE_ROWS;
            for (int k0 = 0; k0 < k; k0 += KC) {
                int kc = Math.min(KC, k - k0);
                // [jPanels][kc][NR]: row kk of panel jp holds GEMM columns q0 + jp*NR ... of depth row k0 + kk.
                // Copying, even where B could be read in place, gives aligned rows and a compact L1 footprint;
                // it costs one copy per depth row and column against the task's rows of multiply-adds. With
                // inPlace (see IN_PLACE_ROWS) only a partial last panel is packed.
                long panelBytes = (long) kc * NR * 4;
                // Whole panels first, then the partial last one (in DIRECT the input may end right after its
                // valid columns; the phase buffer has slack for junk columns).
                int full = Math.min(jPanels, qn / NR);
                int taps = ks * ks;
                MemorySegment from = direct ? in : scratch;
                // Nothing to pack when every panel is read in place.
                int packRows = inPlace && full == jPanels ? 0 : kc;
                for (int kk = 0; kk < packRows; kk++) {
                    int r = k0 + kk, ci = r / taps, tapIdx = r - ci * taps;
                    long src = direct
                            ? inImage + ((long) ci * plane + q0) * 4
                            : (tapOffset(img, g, tapIdx / ks, tapIdx % ks, plane, wp) + ci * plane + q0) * 4;
                    long dst = bp + (long) kk * NR * 4;
                    if (!inPlace) {
                        packRow(from, src, scratch, dst, full, panelBytes);
                    }
                    if (full < jPanels) {
                        long s = src + (long) full * NR * 4, d = dst + full * panelBytes;
                        if (direct) {
                            copyPartialRow(from, s, qn - full * NR, scratch, d);
                        } else {
                            copyPanelRow(from, s, scratch, d);
                        }
                    }
                }
                for (int jp = 0; jp < jPanels; jp++) {
                    if (inPlace && jp < full) {
                        panelTimesBlock(g, k0, kc, in, inImage + ((long) k0 * plane + q0 + jp * NR) * 4,
                                plane * 4, cp, ldcp, jp, i0, i1, tmp);
                    } else {
                        panelTimesBlock(g, k0, kc, scratch, bp + jp * panelBytes, NR * 4L, cp, ldcp, jp, i0, i1,
                                tmp);
                    }
                }
            }
            // The whole block at once, from L2: one pass per output row over up to nc columns. Per column panel
            // (while it was still in L1) the calls were 6 times as many and as short; together with DIRECT's
            // single run per row this took ResNet-50's 1x1 64 -> 256 layers from 1.4-1.7 ms to about 0.6 ms
            // (2 threads, bench --layers).
            epilogue(cp, ldcp, rows, img, co0, q0, qn);
        }

        /** One B micro-panel (kc x NR, column panel jp) against the A panels [i0, i1): C (+)= A B into cp. */
        private void panelTimesBlock(int g, int k0, int kc, MemorySegment b, long bOff, long ldb,
                                     long cp, long ldcp, int jp, int i0, int i1, long tmp) {
            boolean accumulate = k0 != 0;
            for (int i = i0; i < i1; i++) {
                long a = packedOffset(g, i, k0, kc) * 4;
                long c = cp + (long) (i - i0) * MR * ldcp + (long) jp * NR * 4;
                Gemm.tile(packedW, a, b, bOff, ldb, kc, scratch, c, ldcp, accumulate, scratch, tmp);
            }
        }

        /**
         * From the task's block [rows][qn] (row stride ldcp) to out: bias, residual, ReLU. Block column q is
         * GEMM column q0 + q, i.e. output (q / wq, q % wq), kept where q % wq < ow. DIRECT treats the output
         * plane as one row (wq = rowW = cols).
         */
        private void epilogue(long cp, long ldcp, int rows, int img, int co0, int q0, int qn) {
            long outPlane = (long) oh * ow;
            for (int r = 0; r < rows; r++) {
                int co = co0 + r;
                float bv = bias.get(F32, co * 4L);
                long src = cp + r * ldcp;
                long dstPlane = ((long) img * shape.cout() + co) * outPlane;
                int q = q0, end = q0 + qn;
                int oy = q / wq, ox = q - oy * wq;
                while (q < end) {
                    int run = Math.min(wq - ox, end - q);
                    int valid = Math.min(run, rowW - ox);
                    if (valid > 0) {
                        finish(scratch, src + (long) (q - q0) * 4, out, res, (dstPlane + (long) oy * rowW + ox) * 4,
                                valid, bv, relu);
                    }
                    q += run;
                    oy++;
                    ox = 0;
                }
            }
        }
    }

    /**
     * Row kk of {@code panels} consecutive column panels: NR floats from {@code src} on (panel after panel)
     * to {@code dst}, {@code panelBytes} apart. A counted loop of its own, with one exit: with the panel loop
     * inside the task and a second exit test (the partial last panel), C2 hoisted bounds checks on a profile
     * that the next layer's shapes broke, deoptimized, recompiled, and after a few dozen rounds gave up and
     * left the task in slow code for the rest of the run (two-thread layers twice as slow, in one run of three).
     */
    private static void packRow(MemorySegment from, long src, MemorySegment to, long dst, int panels,
                                long panelBytes) {
        for (int jp = 0; jp < panels; jp++) {
            copyPanelRow(from, src + (long) jp * NR * 4, to, dst + jp * panelBytes);
        }
    }

    /** Copies one NR-float panel row. */
    private static void copyPanelRow(MemorySegment src, long s, MemorySegment dst, long d) {
        FloatVector.fromMemorySegment(S, src, s, LE).intoMemorySegment(dst, d, LE);
        FloatVector.fromMemorySegment(S, src, s + Gemm.VB, LE).intoMemorySegment(dst, d + Gemm.VB, LE);
    }

    /**
     * Copies {@code cn <= NR} valid floats into an NR-float panel row. The columns past cn are junk the
     * epilogue drops, so whole vectors are copied unless they would run off the end of the source segment;
     * only there masked loads zero-fill.
     */
    private static void copyPartialRow(MemorySegment src, long s, int cn, MemorySegment dst, long d) {
        if (s + NR * 4L <= src.byteSize()) {
            copyPanelRow(src, s, dst, d);
            return;
        }
        FloatVector.fromMemorySegment(S, src, s, LE, S.indexInRange(0, cn)).intoMemorySegment(dst, d, LE);
        FloatVector.fromMemorySegment(S, src, s + Gemm.VB, LE, S.indexInRange(L, cn))
                .intoMemorySegment(dst, d + Gemm.VB, LE);
    }

    /** {@code dst[i] = relu?(src[i] + bias + res[i])} for {@code count} floats; res may be null. */
    static void finish(MemorySegment src, long srcOff, MemorySegment dst, MemorySegment res, long dstOff,
                       int count, float bias, boolean relu) {
        FloatVector bv = FloatVector.broadcast(S, bias), zero = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(count); i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, src, srcOff + i * 4L, LE).add(bv);
            if (res != null) {
                v = v.add(FloatVector.fromMemorySegment(S, res, dstOff + i * 4L, LE));
            }
            if (relu) {
                v = v.max(zero);
            }
            v.intoMemorySegment(dst, dstOff + i * 4L, LE);
        }
        if (i < count) {
            // The runs between junk columns and panel edges are short, so the tail is common: masked, not scalar.
            VectorMask<Float> m = S.indexInRange(i, count);
            FloatVector v = FloatVector.fromMemorySegment(S, src, srcOff + i * 4L, LE, m).add(bv);
            if (res != null) {
                v = v.add(FloatVector.fromMemorySegment(S, res, dstOff + i * 4L, LE, m));
            }
            if (relu) {
                v = v.max(zero);
            }
            v.intoMemorySegment(dst, dstOff + i * 4L, LE, m);
        }
    }
}
