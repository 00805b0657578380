package dev.skipjack.engine.model;

import dev.skipjack.engine.kernels.GlobalAvgPool;
import dev.skipjack.engine.kernels.MaxPool2d;
import dev.skipjack.engine.model.ResNetGraph.AvgPool;
import dev.skipjack.engine.model.ResNetGraph.Conv;
import dev.skipjack.engine.model.ResNetGraph.Fc;
import dev.skipjack.engine.model.ResNetGraph.MaxPool;
import dev.skipjack.engine.model.ResNetGraph.Op;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The activation buffers and scratch of one in-flight inference. Buffers only grow: once a context has run
 * the largest shape it will see, further inferences of any smaller or equal plan allocate nothing. One
 * context is used by one thread at a time; a model keeps a few for concurrent callers.
 */
final class ExecutionContext implements AutoCloseable {
    private Arena arena;
    private MemorySegment[] buffers = new MemorySegment[0];
    private MemorySegment scratch = MemorySegment.NULL;
    /** The plan run last, so the common case (same shape again) skips the model's plan cache. */
    Plan lastPlan;

    /** Makes the buffers big enough for {@code plan}, reallocating (all at once) only if they are not. */
    void ensure(Plan plan) {
        boolean fits = buffers.length >= plan.bufferBytes.length && scratch.byteSize() >= plan.scratchBytes;
        for (int b = 0; fits && b < plan.bufferBytes.length; b++) {
            fits = buffers[b].byteSize() >= plan.bufferBytes[b];
        }
        if (fits) {
            return;
        }
        int count = Math.max(buffers.length, plan.bufferBytes.length);
        long[] sizes = new long[count];
        for (int b = 0; b < count; b++) {
            sizes[b] = Math.max(b < buffers.length ? buffers[b].byteSize() : 0,
                    b < plan.bufferBytes.length ? plan.bufferBytes[b] : 0);
        }
        long scratchSize = Math.max(scratch.byteSize(), plan.scratchBytes);
        close();
        // Shared: the pool's worker threads read and write these buffers.
        Arena a = Arena.ofShared();
        try {
            var fresh = new MemorySegment[count];
            for (int b = 0; b < count; b++) {
                fresh[b] = a.allocate(Math.max(sizes[b], 64), 64);
            }
            scratch = a.allocate(Math.max(scratchSize, 64), 64);
            buffers = fresh;
            arena = a;
        } catch (RuntimeException | OutOfMemoryError e) {
            a.close();
            buffers = new MemorySegment[0];
            scratch = MemorySegment.NULL;
            throw e;
        }
    }

    /** The buffer that receives the input {@code [n][3][h][w]}. */
    MemorySegment input(Plan plan) {
        return buffers[plan.bufferOf[0]];
    }

    /** The buffer that holds the logits {@code [n][numClasses]} after {@link #run}. */
    MemorySegment output(Plan plan) {
        return buffers[plan.bufferOf[plan.outputValue]];
    }

    /** Runs every operation of {@code net} over this context's buffers (after {@link #ensure}). */
    void run(Network net, Plan plan, Parallel par) {
        Op[] ops = net.ops();
        int n = plan.n;
        for (Op op : ops) {
            int in = op.input();
            MemorySegment src = buffers[plan.bufferOf[in]];
            MemorySegment dst = buffers[plan.bufferOf[op.output()]];
            switch (op) {
                case Conv c -> net.conv(c.layer()).forward(src, dst,
                        c.residual() < 0 ? null : buffers[plan.bufferOf[c.residual()]], c.relu(),
                        n, plan.heights[in], plan.widths[in], scratch, par);
                case MaxPool p -> MaxPool2d.forward(src, dst, n, plan.channels[in], plan.heights[in],
                        plan.widths[in], ResNetGraph.MAXPOOL_KERNEL, ResNetGraph.MAXPOOL_STRIDE,
                        ResNetGraph.MAXPOOL_PAD, par);
                case AvgPool p -> GlobalAvgPool.forward(src, dst, n, plan.channels[in], plan.heights[in],
                        plan.widths[in], par);
                case Fc f -> net.fc().forward(src, dst, n, par);
            }
        }
    }

    /** Copies {@code floats} floats from a heap array into the input buffer. */
    void copyIn(Plan plan, float[] input) {
        MemorySegment.copy(input, 0, input(plan), ValueLayout.JAVA_FLOAT, 0, input.length);
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            arena = null;
        }
        buffers = new MemorySegment[0];
        scratch = MemorySegment.NULL;
    }
}
