package dev.skipjack.engine.model;

import dev.skipjack.engine.backend.Step;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The activation buffers and scratch of one in-flight inference. Buffers only grow: once a context has run
 * the largest shape it will see, further inferences of any smaller or equal plan allocate nothing. One
 * context is used by one thread at a time; a model keeps a few for concurrent callers.
 */
public final class ExecutionContext implements AutoCloseable, Step.Activations {
    private Arena arena;
    private MemorySegment[] buffers = new MemorySegment[0];
    private MemorySegment scratch = MemorySegment.NULL;
    /** The plan run last, so the common case (same shape again) skips the model's plan cache. */
    Plan lastPlan;
    // The plan and pool of the run in progress, for the steps (Step.Activations).
    private Plan running;
    private Parallel runningPool;
    // The caller's own input segment, read in place as value 0 by the run in progress; null: the input buffer.
    private MemorySegment callerInput;

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

    /**
     * Runs the plan's steps (each a run of layers on one backend) over this context's buffers (after {@link #ensure}),
     * the input value read from {@code input} where that is not null (the caller's segment, read in place: see
     * {@link ExecutionContexts#run}), else from the input buffer.
     */
    void run(Network net, Plan plan, Parallel par, MemorySegment input) {
        running = plan;
        runningPool = par;
        callerInput = input;
        try {
            for (Step s : plan.steps) {
                s.run(this);
            }
        } finally {
            running = null;
            runningPool = null;
            callerInput = null;
        }
    }

    @Override
    public MemorySegment value(int v) {
        if (v == 0 && callerInput != null) {
            return callerInput;
        }
        return buffers[running.bufferOf[v]];
    }

    @Override
    public MemorySegment scratch() {
        return scratch;
    }

    @Override
    public Parallel parallel() {
        return runningPool;
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
