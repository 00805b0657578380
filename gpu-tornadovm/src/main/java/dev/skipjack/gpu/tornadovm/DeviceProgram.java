package dev.skipjack.gpu.tornadovm;

import dev.skipjack.engine.backend.ActivationShapes;
import dev.skipjack.engine.backend.BufferAssignment;
import dev.skipjack.engine.backend.Layer;
import dev.skipjack.engine.backend.Step;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.WorkerGrid1D;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.enums.ProfilerMode;
import uk.ac.manchester.tornado.api.enums.TornadoVMBackendType;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * One TornadoVM task graph running a run of consecutive layers: one task per layer, the layers' weights
 * copied to the device on the first execution only, the activations between them kept on the device, the
 * run's inputs copied in and the values the host needs afterwards copied out on every execution.
 *
 * <p>Device buffers are assigned by liveness within the run (a buffer is reused once every layer that reads
 * its value has run; a value the host reads afterwards keeps its buffer to the end, since TornadoVM copies
 * results out after the whole graph). Buffers are sized for a {@linkplain #capacity capacity} per value;
 * the kernels read the actual sizes from a small {@code dims} array, so one compiled graph serves every input
 * shape that fits. A larger shape needs a new program (see {@link TornadoVmBackend}).
 *
 * <p>Not thread-safe: {@link #run} is called under the owner's lock.
 */
final class DeviceProgram implements AutoCloseable {
    /** Work-group size: a multiple of every GPU's warp/wavefront and fine for PoCL's CPU vectorizer. */
    static final int LOCAL = 64;

    private static final AtomicLong IDS = new AtomicLong();

    private final List<Layer> run;
    private final long[] capacity;
    private final TornadoExecutionPlan plan;
    private final WorkerGrid1D[] workers;
    private final IntArray dims;
    private final int[] inValues;
    private final MemorySegment[] inSegments;
    private final int[] outValues;
    private final MemorySegment[] outSegments;
    private boolean closed;

    /**
     * @param onHost   per value: copy it back to the host after every execution
     * @param capacity per value: floats its device buffer must hold
     * @param shapes   any shapes of this model (for the channel counts, which no input shape changes)
     * @param timing   for the auto profile's measurements: inputs go to the device once, nothing comes back,
     *                 and TornadoVM's profiler records the kernel times
     */
    DeviceProgram(TornadoVmBackend.Weights weights, List<Layer> run, boolean[] onHost, long[] capacity,
                  ActivationShapes shapes, boolean timing, String openclFlags) {
        this.run = List.copyOf(run);
        this.capacity = capacity.clone();
        int m = run.size();
        int values = capacity.length;

        // Where each value is produced and last read, in run positions; -1 = before the run (an input).
        int[] producedAt = new int[values];
        int[] lastUse = new int[values];
        Arrays.fill(producedAt, Integer.MIN_VALUE);
        Arrays.fill(lastUse, Integer.MIN_VALUE);
        var inputs = new LinkedHashSet<Integer>();
        for (int t = 0; t < m; t++) {
            Layer l = run.get(t);
            for (int v = 0; v < values; v++) {
                if (l.reads(v)) {
                    if (producedAt[v] == Integer.MIN_VALUE) {
                        producedAt[v] = -1;
                        inputs.add(v);
                    }
                    lastUse[v] = t;
                }
            }
            producedAt[l.output()] = t;
            lastUse[l.output()] = Math.max(lastUse[l.output()], t);
        }
        var outs = new ArrayList<Integer>();
        for (Layer l : run) {
            if (onHost[l.output()]) {
                lastUse[l.output()] = m;
                outs.add(l.output());
            }
        }

        // Liveness assignment of device buffers.
        var holder = new ArrayList<Integer>();
        var sizes = new ArrayList<Long>();
        int[] bufferOf = new int[values];
        Arrays.fill(bufferOf, -1);
        for (int v : inputs) {
            bufferOf[v] = take(v, -1, lastUse, holder, sizes);
        }
        for (int t = 0; t < m; t++) {
            int v = run.get(t).output();
            bufferOf[v] = take(v, t, lastUse, holder, sizes);
        }
        var buffers = new FloatArray[holder.size()];
        for (int b = 0; b < buffers.length; b++) {
            buffers[b] = new FloatArray(Math.toIntExact(Math.max(1, sizes.get(b))));
        }

        String graphName = "skipjack" + IDS.incrementAndGet();
        var graph = new TaskGraph(graphName);
        dims = new IntArray(Kernels.DIMS * m);
        dims.init(0);
        var inArrays = new LinkedHashSet<FloatArray>();
        inValues = inputs.stream().mapToInt(Integer::intValue).toArray();
        inSegments = new MemorySegment[inValues.length];
        for (int j = 0; j < inValues.length; j++) {
            FloatArray a = buffers[bufferOf[inValues[j]]];
            inArrays.add(a);
            inSegments[j] = a.getSegment();
            if (timing) {
                a.init(0.5f); // stands in for an activation: no NaNs or denormals to skew the timing
            }
        }
        graph.transferToDevice(DataTransferMode.EVERY_EXECUTION, dims);
        graph.transferToDevice(timing ? DataTransferMode.FIRST_EXECUTION : DataTransferMode.EVERY_EXECUTION,
                inArrays.toArray());

        FloatArray none = new FloatArray(1); // stands for "no residual"
        none.init(0f);
        var constants = new ArrayList<Object>();
        constants.add(none);
        for (Layer l : run) {
            if (weights.weight(l.index()) != null) {
                constants.add(weights.weight(l.index()));
                constants.add(weights.bias(l.index()));
            }
        }
        graph.transferToDevice(DataTransferMode.FIRST_EXECUTION, constants.toArray());

        var kc = new KernelContext();
        var grids = new GridScheduler();
        workers = new WorkerGrid1D[m];
        for (int t = 0; t < m; t++) {
            Layer l = run.get(t);
            String task = "l" + l.index();
            int d = Kernels.DIMS * t;
            FloatArray in = buffers[bufferOf[l.input()]];
            FloatArray out = buffers[bufferOf[l.output()]];
            switch (l) {
                case Layer.Conv c -> {
                    var s = c.shape();
                    FloatArray res = c.residual() < 0 ? none : buffers[bufferOf[c.residual()]];
                    int flags = (c.residual() < 0 ? 0 : Kernels.RESIDUAL) | (c.relu() ? Kernels.RELU : 0);
                    if (blocked(c)) {
                        graph.task(task, Kernels::conv4, kc, in, weights.weight(l.index()), weights.bias(l.index()),
                                res, out, dims, d, s.cin(), s.cout(), s.kernel(), s.stride(), s.pad(), s.groups(), flags);
                    } else {
                        graph.task(task, Kernels::conv, kc, in, weights.weight(l.index()), weights.bias(l.index()), res,
                                out, dims, d, s.cin(), s.cout(), s.kernel(), s.stride(), s.pad(), s.groups(), flags);
                    }
                }
                case Layer.MaxPool p -> graph.task(task, Kernels::maxPool, kc, in, out, dims, d, shapes.channels(p.input()),
                        p.kernel(), p.stride(), p.pad());
                case Layer.AvgPool p -> graph.task(task, Kernels::avgPool, kc, in, out, dims, d, shapes.channels(p.input()));
                case Layer.Fc f -> graph.task(task, Kernels::fc, kc, in, weights.weight(l.index()),
                        weights.bias(l.index()), out, dims, d, f.inFeatures(), f.outFeatures());
            }
            workers[t] = new WorkerGrid1D(LOCAL);
            workers[t].setLocalWork(LOCAL, 1, 1);
            grids.addWorkerGrid(graphName + "." + task, workers[t]);
        }

        outValues = outs.stream().mapToInt(Integer::intValue).toArray();
        outSegments = new MemorySegment[outValues.length];
        var outArrays = new LinkedHashSet<FloatArray>();
        for (int j = 0; j < outValues.length; j++) {
            FloatArray a = buffers[bufferOf[outValues[j]]];
            outArrays.add(a);
            outSegments[j] = a.getSegment();
        }
        if (timing) {
            graph.persistOnDevice(buffers[bufferOf[run.get(m - 1).output()]]);
        } else {
            graph.transferToHost(DataTransferMode.EVERY_EXECUTION, outArrays.toArray());
        }

        plan = new TornadoExecutionPlan(graph.snapshot());
        plan.withGridScheduler(grids);
        // TornadoVM compiles OpenCL with -cl-fast-relaxed-math by default, which lets the compiler reassociate
        // and use reduced-precision mad: the logits must stay within PyTorch's own rounding.
        plan.withCompilerFlags(TornadoVMBackendType.OPENCL, openclFlags);
        if (timing) {
            plan.withProfiler(ProfilerMode.SILENT);
        }
    }

    /** Whether {@link Kernels#conv4} can run the convolution (whole blocks of output channels per group). */
    static boolean blocked(Layer.Conv c) {
        return c.shape().coutPerGroup() % Kernels.CO_BLOCK == 0;
    }

    /** The buffer for value {@code v} produced at {@code step}: the first free one, else a new one. */
    private int take(int v, int step, int[] lastUse, ArrayList<Integer> holder, ArrayList<Long> sizes) {
        return BufferAssignment.take(v, step, capacity[v], lastUse, holder, sizes);
    }

    /** Whether every value of the run fits this program's buffers for {@code shapes}. */
    boolean fits(ActivationShapes shapes) {
        for (Layer l : run) {
            if (shapes.floats(l.input()) > capacity[l.input()] || shapes.floats(l.output()) > capacity[l.output()]) {
                return false;
            }
        }
        return true;
    }

    /** Capacity per value (floats). */
    long[] capacity() {
        return capacity.clone();
    }

    /** Sets the sizes and the grid of every task for {@code shapes}. */
    private void shape(ActivationShapes s) {
        for (int t = 0; t < run.size(); t++) {
            Layer l = run.get(t);
            int d = Kernels.DIMS * t;
            int in = l.input(), out = l.output();
            dims.set(d, s.batch());
            dims.set(d + 1, s.height(in));
            dims.set(d + 2, s.width(in));
            dims.set(d + 3, s.height(out));
            dims.set(d + 4, s.width(out));
            long items = s.floats(out) / (l instanceof Layer.Conv c && blocked(c) ? Kernels.CO_BLOCK : 1);
            workers[t].setGlobalWork((items + LOCAL - 1) / LOCAL * LOCAL, 1, 1);
            workers[t].setLocalWork(LOCAL, 1, 1);
        }
    }

    /** One execution for {@code shapes}: inputs from {@code acts}, the values the host needs back into it. */
    void run(ActivationShapes shapes, Step.Activations acts) {
        check();
        shape(shapes);
        for (int j = 0; j < inValues.length; j++) {
            int v = inValues[j];
            MemorySegment.copy(acts.value(v), 0, inSegments[j], 0, shapes.floats(v) * Float.BYTES);
        }
        plan.execute();
        for (int j = 0; j < outValues.length; j++) {
            int v = outValues[j];
            MemorySegment.copy(outSegments[j], 0, acts.value(v), 0, shapes.floats(v) * Float.BYTES);
        }
    }

    /**
     * Seconds one execution takes (a timing program, see the constructor: launch and kernel, no activation
     * copies): one warm-up execution (JIT compilation and the one-time copies), then the best of {@code repeats}.
     */
    double time(ActivationShapes shapes, int repeats) {
        check();
        shape(shapes);
        plan.execute();
        long best = Long.MAX_VALUE;
        for (int r = 0; r < repeats; r++) {
            long t0 = System.nanoTime();
            TornadoExecutionResult result = plan.execute();
            long wall = System.nanoTime() - t0;
            // The launch is part of what a layer costs in a run of device layers; the profiler's kernel time
            // bounds it from below should execute() return before the device is done.
            long kernel = result.getProfilerResult().getDeviceKernelTime();
            best = Math.min(best, Math.max(kernel, wall));
        }
        return best * 1e-9;
    }

    private void check() {
        if (closed) {
            throw new IllegalStateException("this TornadoVM program is closed (its model was closed)");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            plan.freeDeviceMemory();
            plan.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing a TornadoVM execution plan failed: " + e.getMessage(), e);
        }
    }
}
