package dev.skipjack.engine.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A fixed pool of warm worker threads that runs one indexed loop at a time.
 *
 * <p>{@code new Parallel(t)} starts {@code t - 1} daemon workers; the thread that calls {@link #forEach}
 * is the t-th. Index i below t is thread i's own (the caller's 0, worker k's k): each thread first claims its own,
 * then indices from t up one at a time from a shared counter, then any own index whose thread has not come for it,
 * so a worker that the OS deschedules (this machine is shared) only delays the indices it already took. Kernels
 * that give each thread a share of a layer's pixels take the index as the share, so that a core reads what it
 * wrote in the layer before (handed out from the counter in claim order, the caller took index 1 in 18 of 29 jobs
 * of a ResNet-18 pass, and the worker the share the caller had written). A call allocates nothing:
 * the job is published through fields and a generation counter, and callers keep their {@link Task} in a
 * field.
 *
 * <p>Workers (and a caller waiting for them) spin for a while after a job ends before they park: a network
 * runs dozens of jobs back to back, and on this shared 2-core VM a parked thread woke slowly, far more than
 * the tens of microseconds of the wake-up itself. With 200 us of spinning, a worker that ran out of tasks
 * while the other thread finished a long one (a Winograd chunk, a 16-tile block) parked mid-pass, and
 * ResNet-18 passes took 1.38-1.48 times as long (two engines alternating, 100 ms apart so that neither's
 * spinning overlapped the other's pass) as with 10 ms, and 1.38 times as long as with 2 ms. The default
 * is {@value #DEFAULT_SPIN_MICROS} us: after a pass the pool holds one core for that long (ONNX Runtime's
 * workers, spinning by default, held one for about 25-30 ms here). {@code -Dskipjack.parallel.spinMicros}
 * sets it (0: park at once, for hosts where idle cores matter more than latency).
 *
 * <p>On Linux a parked worker is woken on a CPU other than the caller's ({@link Affinity}): left to itself, a
 * worker woken after both threads had slept landed on the caller's CPU and shared it for some 4 ms (see there).
 */
public final class Parallel implements AutoCloseable {

    /**
     * The loop body: called once for every index in {@code [0, tasks)}. Index i below {@link #threads()} is run by
     * thread i (the caller is thread 0, worker k thread k) when that thread comes for it, else by another (see
     * {@link #forEach}); the other indices by any of the pool's threads.
     */
    @FunctionalInterface
    public interface Task {
        void run(int index);
    }

    static final long DEFAULT_SPIN_MICROS = 10_000;
    /** Whether {@link #readWhileIdle} reads anything; {@code -Dskipjack.parallel.idleReads=false} turns it off. */
    static final boolean IDLE_READS = !"false".equals(System.getProperty("skipjack.parallel.idleReads"));
    /** Bytes an idle thread reads between two looks at whether its wait is over. */
    static final long IDLE_STEP = 2048;
    private static final long SPIN_NANOS = Math.max(0, Long.getLong("skipjack.parallel.spinMicros",
            DEFAULT_SPIN_MICROS)) * 1000;
    /**
     * How long a worker must have been parked before its wake-up is steered (see {@link Affinity}): the caller's
     * CPU was shared after both threads had slept for tens of milliseconds, and steering every wake-up (two
     * system calls and a migration) made the load's warm-up, whose workers park after 200 us, 1-2 s longer.
     */
    private static final long STEER_AFTER_NANOS = 2_000_000;
    /** While the JIT compiles (a warm-up), a spinning worker takes a core from its compiler threads. */
    private static final long SHORT_SPIN_NANOS = Math.min(SPIN_NANOS, 200_000);

    private final int threads;
    private volatile long spinNanos = SPIN_NANOS;
    private final Thread[] workers;
    // Steering (see Affinity): each worker's kernel thread id (written before the constructor returns), whether
    // it is parked or about to park (1) or was steered while parked (2), the process's CPU mask and the caller's
    // scratch mask. steer is false where Affinity is not available or the mask has one CPU.
    private final int[] tids;
    private final AtomicIntegerArray sleeping;
    private final long[] parkedSince; // System.nanoTime() when the worker last set sleeping (written before it)
    private final MemorySegment processMask;
    private final MemorySegment steerMask;
    private final boolean steer;
    private final ReentrantLock callLock = new ReentrantLock();

    // state = (generation << 32) | next unclaimed index. Claiming an index with a CAS on the whole word
    // means a worker that wakes late for an old generation can never claim an index of a newer one.
    private final AtomicLong state = new AtomicLong();
    // The home indices [0, min(tasks, threads)), claimed apart from the counter: homes = (generation << 32) | a bit
    // per home index claimed, set before state publishes the generation (the same guard against a late worker).
    private final AtomicLong homes = new AtomicLong();
    /** Threads whose home index is their own: all of them up to the 32 bits of {@link #homes}, else none. */
    private final int homeThreads;
    private final AtomicInteger done = new AtomicInteger();
    // Two job slots, by generation parity: the slot a late worker may still read is not rewritten until
    // its generation's claims have all been made (the CAS above then rejects the late worker).
    private final Task[] bodies = new Task[2];
    private final int[] counts = new int[2];
    private volatile Thread waiter;
    // Whether the caller waiting for a job's last task is parked or about to park (awaitDone), so that the thread
    // that ends the last task unparks it only then: set before its last look at done, read after the increment,
    // both volatile, so either the caller sees the count or the other thread sees the flag (as with sleeping).
    private volatile boolean waiterParked;
    private volatile Throwable failure;
    private volatile boolean closed;
    // What idle threads read (readWhileIdle): the segment, the next step to claim, and the bytes read so far.
    private final AtomicReference<MemorySegment> idleRead = new AtomicReference<>();
    private final AtomicLong idleStep = new AtomicLong();
    private final AtomicLong idleBytes = new AtomicLong();

    /**
     * Starts a pool of {@code threads} threads in all, the caller of {@link #forEach} included.
     *
     * @param threads at least 1
     */
    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("Parallel needs at least 1 thread, got " + threads);
        }
        this.threads = threads;
        this.homeThreads = threads <= 32 ? threads : 0;
        this.workers = new Thread[threads - 1];
        this.tids = new int[threads - 1];
        this.sleeping = new AtomicIntegerArray(Math.max(1, threads - 1));
        this.parkedSince = new long[Math.max(1, threads - 1)];
        Arena masks = Arena.ofAuto();
        this.processMask = Affinity.newMask(masks);
        this.steerMask = Affinity.newMask(masks);
        boolean canSteer = workers.length > 0 && Affinity.available() && Affinity.getMask(0, processMask)
                && Affinity.count(processMask) >= 2;
        CountDownLatch started = new CountDownLatch(workers.length);
        for (int i = 0; i < workers.length; i++) {
            int index = i;
            Thread t = new Thread(() -> {
                tids[index] = Affinity.currentTid();
                started.countDown();
                workerLoop(index);
            }, "skipjack-worker-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
        }
        for (Thread t : workers) {
            t.start();
        }
        uninterruptibly(started::await);
        for (int tid : tids) {
            canSteer &= tid > 0;
        }
        this.steer = canSteer;
    }

    /**
     * Whether a parked worker is woken on a CPU other than the caller's ({@link Affinity}): false for one thread,
     * off Linux, without native access, with one CPU, or with {@code -Dskipjack.parallel.steer=false}.
     */
    public boolean steersWorkers() {
        return steer;
    }

    /** Whether the calling thread and every worker may access {@code segment} (a confined arena's: its owner only). */
    public boolean canRead(MemorySegment segment) {
        for (Thread w : workers) {
            if (!segment.isAccessibleBy(w)) {
                return false;
            }
        }
        return segment.isAccessibleBy(Thread.currentThread());
    }

    /**
     * Has the pool's threads read {@code segment} (one load a 64-byte line) whenever they would otherwise wait: a
     * thread with no index left to claim while another runs its last (the end of every {@link #forEach}), and a
     * worker between one call and the next, until all of it is read or another segment (or null: none) replaces it.
     * Threads take steps of {@value #IDLE_STEP} bytes in turn from as many parts as the pool has threads, so that the
     * start of each thread's share of a layer split by output channels comes first. What it is for: at batch 1 a
     * layer's weights come from memory as it runs (ResNet-18's 46 MB and ResNet-50's 100 MB do not stay in cache
     * from one pass to the next), while at the end of the layer before the thread done first waits 0.1-0.3 ms for
     * the other; the network names the next layer's weights here before each layer (see CpuBackend), and in a
     * ResNet-18 pass the waits read 9.5 MB of them (ResNet-50 18 MB). Whole passes at batch 1, on and off
     * alternating in one process (2 threads, Ice Lake Xeon), both orders: ResNet-18 0.976 and 0.980 of the time
     * (faster in 652 of 1200 rounds), ResNet-50 0.961 and 1.018 (318 of 600); at batch 8, where a layer's weights
     * serve eight images, within noise (ResNet-18 1.025 and 0.993, ResNet-50 0.999 and 1.016). Reading never fails:
     * a segment whose arena has been closed is dropped. Off with {@code -Dskipjack.parallel.idleReads=false}.
     *
     * @param segment readable by every thread of the pool (see {@link #canRead}), or null
     */
    public void readWhileIdle(MemorySegment segment) {
        if (!IDLE_READS || segment == idleRead.get()) {
            return;
        }
        if (segment != null && !canRead(segment)) {
            throw new IllegalArgumentException("readWhileIdle: the segment must be readable by every thread of the "
                    + "pool (a shared, automatic or global arena's)");
        }
        idleRead.set(null);
        idleStep.set(0);
        idleRead.set(segment);
    }

    /** Bytes read for {@link #readWhileIdle} since the pool started (for tests and diagnostics). */
    public long idleReadBytes() {
        return idleBytes.get();
    }

    /** One step of {@link #readWhileIdle}: false if there was nothing left to read. */
    private boolean readIdleStep() {
        MemorySegment seg = idleRead.get();
        if (seg == null) {
            return false;
        }
        long k = idleStep.getAndIncrement();
        // parts of whole lines, the last one to the end (at least as long as the others)
        long part = (seg.byteSize() / threads) & ~63L;
        int p = (int) (k % threads);
        if (k / threads * IDLE_STEP >= seg.byteSize() - (threads - 1) * part) { // all read: no more claims
            idleRead.compareAndSet(seg, null);
            return false;
        }
        long from = p * part + k / threads * IDLE_STEP;
        long to = Math.min(p == threads - 1 ? seg.byteSize() : (p + 1) * part, from + IDLE_STEP);
        int sum = 0;
        try {
            for (long o = from; o < to; o += 64) {
                sum += seg.get(ValueLayout.JAVA_BYTE, o);
            }
        } catch (IllegalStateException closedArena) {
            idleRead.compareAndSet(seg, null);
            return false;
        }
        idleSink = sum;
        if (from < to) {
            idleBytes.addAndGet(to - from);
        }
        return true;
    }

    // Where readIdleStep's loads go, so that the JIT keeps them.
    private static volatile int idleSink;

    /** The number of threads that run a {@link #forEach}, the caller's included. */
    public int threads() {
        return threads;
    }

    /**
     * Whether idle threads spin only briefly (200 us at most) before parking, instead of the configured time:
     * for warm-ups, where the JIT's compiler threads need the cores (ResNet-18's warm-up took 7.5 s with 10 ms
     * of spinning against 5.1-5.5 s with 200 us).
     */
    public void shortSpin(boolean on) {
        spinNanos = on ? SHORT_SPIN_NANOS : SPIN_NANOS;
    }

    /**
     * Runs {@code body.run(i)} for every i in {@code [0, tasks)} across the pool and returns when all are
     * done. Concurrent callers are serialized; a call from inside a body throws. If a body throws, the
     * remaining indices still run and the first failure is rethrown here (wrapped if checked).
     */
    public void forEach(int tasks, Task body) {
        if (tasks < 0) {
            throw new IllegalArgumentException("tasks must be >= 0, got " + tasks);
        }
        if (callLock.isHeldByCurrentThread() || isWorker(Thread.currentThread())) {
            throw new IllegalStateException("Parallel.forEach is not reentrant: called from inside a task");
        }
        callLock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("Parallel pool used after close()");
            }
            if (tasks == 0) {
                return;
            }
            if (workers.length == 0 || tasks == 1) {
                for (int i = 0; i < tasks; i++) {
                    body.run(i);
                }
                return;
            }
            failure = null;
            waiter = Thread.currentThread();
            done.set(0);
            long gen = (state.get() >>> 32) + 1;
            int slot = (int) (gen & 1);
            bodies[slot] = body;
            counts[slot] = tasks;
            int home = Math.min(tasks, homeThreads);
            homes.set(gen << 32);
            state.set(gen << 32 | home); // publishes the slot and homes written above
            for (int i = 0; i < workers.length; i++) {
                if (sleeping.get(i) != 0) { // a spinning worker sees state; see workerLoop
                    unpark(i);
                }
            }
            runClaimed(gen, body, tasks, 0);
            awaitDone(tasks);
            bodies[slot] = null;
            Throwable f = failure;
            if (f != null) {
                failure = null;
                if (f instanceof RuntimeException re) {
                    throw re;
                }
                if (f instanceof Error e) {
                    throw e;
                }
                throw new IllegalStateException("a Parallel task failed", f);
            }
        } finally {
            callLock.unlock();
        }
    }

    /**
     * Gets parked workers running ahead of a {@link #forEach} the caller is about to make, so that their wake-up
     * overlaps what the caller does first (checking and copying an input, decoding an image). On this host a
     * worker parked for milliseconds started running 0.3-0.4 ms after its unpark (its virtual CPU idle), a spinning
     * one within 10 us. Woken workers spin for the usual time and park again if no job comes. Cheap where no
     * worker is parked; does nothing while another thread's {@code forEach} runs (its workers are awake).
     */
    public void wake() {
        if (workers.length == 0 || closed || !callLock.tryLock()) {
            return;
        }
        try {
            for (int i = 0; i < workers.length; i++) {
                if (sleeping.get(i) == 1) {
                    unpark(i);
                }
            }
        } finally {
            callLock.unlock();
        }
    }

    /**
     * Unparks worker {@code i}; if it has been parked for {@link #STEER_AFTER_NANOS} or more (and not in a
     * warm-up), first narrows its CPU mask to the CPUs other than the caller's (see {@link Affinity}). Under
     * {@link #callLock} (the steering mask is shared).
     */
    private void unpark(int i) {
        if (steer && spinNanos == SPIN_NANOS && sleeping.get(i) == 1
                && System.nanoTime() - parkedSince[i] >= STEER_AFTER_NANOS && sleeping.compareAndSet(i, 1, 2)) {
            int cpu = Affinity.currentCpu();
            if (Affinity.has(processMask, cpu)) { // the worker restores the whole mask once it runs
                Affinity.without(processMask, cpu, steerMask);
                Affinity.setMask(tids[i], steerMask);
            }
        }
        LockSupport.unpark(workers[i]);
    }

    private boolean isWorker(Thread t) {
        for (Thread w : workers) {
            if (w == t) {
                return true;
            }
        }
        return false;
    }

    /**
     * Claims and runs indices of generation {@code gen} until none are left: first thread {@code self}'s home index,
     * then from the counter, then any home index its thread has not come for.
     */
    private void runClaimed(long gen, Task body, int tasks, int self) {
        int home = Math.min(tasks, homeThreads);
        if (self < home && claimHome(gen, self)) {
            runOne(body, self, tasks);
        }
        for (;;) {
            long v = state.get();
            if ((v >>> 32) != gen) {
                return;
            }
            int i = (int) v;
            if (i >= tasks) {
                break;
            }
            if (state.compareAndSet(v, v + 1)) {
                runOne(body, i, tasks);
            }
        }
        for (int i = 0; i < home; i++) {
            if (claimHome(gen, i)) {
                runOne(body, i, tasks);
            }
        }
    }

    /** Claims home index i of generation gen: false if another thread has, or the generation has moved on. */
    private boolean claimHome(long gen, int i) {
        long bit = 1L << i;
        for (;;) {
            long v = homes.get();
            if ((v >>> 32) != gen || (v & bit) != 0) {
                return false;
            }
            if (homes.compareAndSet(v, v | bit)) {
                return true;
            }
        }
    }

    private void runOne(Task body, int i, int tasks) {
        try {
            body.run(i);
        } catch (Throwable t) {
            if (failure == null) {
                failure = t;
            }
        }
        if (done.incrementAndGet() == tasks && waiterParked) { // else it spins on done; see awaitDone
            Thread w = waiter;
            if (w != Thread.currentThread()) {
                LockSupport.unpark(w);
            }
        }
    }

    private void awaitDone(int tasks) {
        long start = System.nanoTime();
        while (done.get() < tasks) {
            if (System.nanoTime() - start < spinNanos) {
                if (!readIdleStep()) {
                    Thread.onSpinWait();
                }
            } else {
                waiterParked = true;
                if (done.get() < tasks) {
                    LockSupport.parkNanos(this, 100_000);
                }
                waiterParked = false;
            }
        }
    }

    private void workerLoop(int index) {
        long seen = 0;
        while (!closed) {
            long gen = state.get() >>> 32;
            if (gen == seen) {
                long start = System.nanoTime();
                while ((gen = state.get() >>> 32) == seen && !closed) {
                    if (System.nanoTime() - start < spinNanos) {
                        if (!readIdleStep()) {
                            Thread.onSpinWait();
                        }
                    } else {
                        parkedSince[index] = System.nanoTime();
                        sleeping.set(index, 1);
                        if ((state.get() >>> 32) == seen && !closed) {
                            LockSupport.park(this);
                        }
                        if (sleeping.getAndSet(index, 0) == 2) {
                            Affinity.setMask(0, processMask);
                        }
                        start = System.nanoTime(); // woken (by wake() or a job): spin again before parking
                    }
                }
                if (closed) {
                    return;
                }
            }
            int slot = (int) (gen & 1);
            Task body = bodies[slot];
            int tasks = counts[slot];
            if (body != null) {
                runClaimed(gen, body, tasks, index + 1);
            }
            seen = gen;
        }
    }

    /**
     * Stops the workers and waits for them to end (so that none reads a {@link #readWhileIdle} segment after this
     * returns: its arena may be closed next). Idempotent; {@link #forEach} afterwards throws
     * {@link IllegalStateException}.
     */
    @Override
    public void close() {
        callLock.lock();
        try {
            if (closed) {
                return;
            }
            idleRead.set(null);
            closed = true;
        } finally {
            callLock.unlock();
        }
        for (Thread t : workers) {
            LockSupport.unpark(t);
        }
        for (Thread t : workers) {
            if (t != Thread.currentThread()) {
                uninterruptibly(t::join);
            }
        }
    }

    /** A wait that may be interrupted. */
    private interface Wait {
        void run() throws InterruptedException;
    }

    /** Waits until {@code wait} returns, through interrupts, then sets the thread's interrupt status if there was one. */
    private static void uninterruptibly(Wait wait) {
        boolean interrupted = false;
        for (;;) {
            try {
                wait.run();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
