package dev.skipjack.engine.model;

import dev.skipjack.engine.backend.Dispatch;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Runs inferences of one {@link Network} for concurrent callers, and owns the model's lifecycle state.
 *
 * <p>A caller takes one of up to {@value #MAX_CONTEXTS} execution contexts (its own buffers) for the length of
 * its inference, so concurrent calls never share an activation; the kernels themselves serialize on the
 * model's pool, so more contexts would only add memory. Plans are cached per input shape. In the steady
 * state (same shapes again) an inference allocates nothing: the context's last plan is checked first,
 * contexts are claimed with a CAS over a fixed array, and the buffers are already large enough.
 *
 * <p>Close waits for inferences in flight, then frees every context; later calls throw
 * {@link IllegalStateException}.
 */
public final class ExecutionContexts {
    static final int MAX_CONTEXTS = 4;
    /** Plans are small, but a caller cycling through endless shapes must not grow the cache forever. */
    private static final int MAX_PLANS = 64;

    private record Shape(int n, int h, int w) {}

    private final Network network;
    private final Parallel parallel;
    private final Dispatch dispatch;
    private final ConcurrentHashMap<Shape, Plan> plans = new ConcurrentHashMap<>();
    private final ExecutionContext[] contexts = new ExecutionContext[MAX_CONTEXTS];
    private final AtomicIntegerArray busy = new AtomicIntegerArray(MAX_CONTEXTS);
    private final Semaphore permits = new Semaphore(MAX_CONTEXTS);
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicBoolean closing = new AtomicBoolean();
    private volatile boolean closed;

    /** Every layer on the CPU. */
    public ExecutionContexts(Network network, Parallel parallel) {
        this(network, parallel, Dispatch.allOn(new CpuBackend(network, parallel), Layers.of(network)));
    }

    /** Each layer on the backend {@code dispatch} chose for it (the caller closes the dispatch). */
    public ExecutionContexts(Network network, Parallel parallel, Dispatch dispatch) {
        this.network = network;
        this.parallel = parallel;
        this.dispatch = dispatch;
        for (int i = 0; i < MAX_CONTEXTS; i++) {
            contexts[i] = new ExecutionContext();
        }
    }

    /**
     * Whether the first layer may read the caller's input segment in place instead of a copy in the context's input
     * buffer: where it is off-heap memory of the same kind as the buffer (the kernels' compiled code has seen only
     * that kind; an array's segment or a mapped file's would deoptimize them) and every thread of the pool may read
     * it (a confined arena's may not). Saves a pass over the input: 600 KB at 224 x 224, batch 1.
     */
    private boolean readableInPlace(MemorySegment input, MemorySegment buffer) {
        return input.getClass() == buffer.getClass() && parallel.canRead(input);
    }

    /** Throws {@link IllegalStateException} once the model is closed. */
    public void checkOpen() {
        if (closed) {
            throw new IllegalStateException("this model is closed");
        }
    }

    /**
     * One inference: input from {@code inArray} or {@code inSegment} ({@code [n][3][h][w]}), logits to
     * {@code outArray} or {@code outSegment} ({@code [n][classes]}). Sizes are checked by the caller.
     */
    public void run(float[] inArray, MemorySegment inSegment, float[] outArray, MemorySegment outSegment,
            int n, int h, int w) {
        // Register before checking the flag; close() sets the flag before waiting for the count, so either
        // close sees this call and waits for it, or this call sees the flag and backs out.
        active.incrementAndGet();
        try {
            checkOpen();
            permits.acquireUninterruptibly();
            int slot = claim();
            try {
                ExecutionContext ctx = contexts[slot];
                Plan plan = ctx.lastPlan;
                if (plan == null || !plan.matches(n, h, w)) {
                    plan = plan(n, h, w);
                    ctx.lastPlan = plan;
                }
                ctx.ensure(plan);
                MemorySegment inPlace = null;
                if (inArray != null) {
                    ctx.copyIn(plan, inArray);
                } else if (readableInPlace(inSegment, ctx.input(plan))) {
                    inPlace = inSegment;
                } else {
                    MemorySegment.copy(inSegment, 0, ctx.input(plan), 0, plan.floats(0) * Float.BYTES);
                }
                ctx.run(network, plan, parallel, inPlace);
                MemorySegment logits = ctx.output(plan);
                if (outArray != null) {
                    MemorySegment.copy(logits, ValueLayout.JAVA_FLOAT, 0, outArray, 0, outArray.length);
                } else {
                    MemorySegment.copy(logits, 0, outSegment, 0, plan.floats(plan.outputValue) * Float.BYTES);
                }
            } finally {
                busy.set(slot, 0);
                permits.release();
            }
        } finally {
            if (active.decrementAndGet() == 0 && closed) {
                synchronized (active) {
                    active.notifyAll();
                }
            }
        }
    }

    private int claim() {
        // The semaphore guarantees a free slot; a CAS may still lose to another caller, so keep scanning.
        for (int i = 0; ; i = (i + 1) % MAX_CONTEXTS) {
            if (busy.get(i) == 0 && busy.compareAndSet(i, 0, 1)) {
                return i;
            }
        }
    }

    private Plan plan(int n, int h, int w) {
        var key = new Shape(n, h, w);
        Plan p = plans.get(key);
        if (p == null) {
            p = Plan.create(network, dispatch, n, h, w, parallel.threads());
            if (plans.size() >= MAX_PLANS) {
                plans.clear();
            }
            plans.putIfAbsent(key, p);
        }
        return p;
    }

    /**
     * Marks the model closed, waits for inferences in flight, frees every context. Returns true for the call
     * that actually closed (the caller then frees what it owns), false for repeated calls.
     */
    public boolean close() {
        if (!closing.compareAndSet(false, true)) {
            return false;
        }
        closed = true;
        // Block rather than spin: an inference in flight may take seconds and needs every core. The last call
        // out notifies after it sees the flag; the timed wait covers a call that left between our check and
        // our wait. An interrupt must not free buffers under a running kernel, so it is kept for later.
        boolean interrupted = false;
        synchronized (active) {
            while (active.get() > 0) {
                try {
                    active.wait(10);
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        for (ExecutionContext c : contexts) {
            c.close();
        }
        plans.clear();
        return true;
    }
}
