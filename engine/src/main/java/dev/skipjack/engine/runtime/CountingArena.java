package dev.skipjack.engine.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An arena that counts the bytes allocated through it and hands everything else to another arena.
 *
 * <p>Why: a model's native memory is what its kernels allocate when they pack the weights, in layouts only the
 * kernels know (Winograd's transformed weights are 16/9 the size of the 3x3 weights, panels are padded to
 * the micro-kernel's rows). Counting at the arena gives the exact figure without asking each kernel, and
 * stays exact when a kernel changes its layout.
 *
 * <p>The count is of requested bytes; the allocator adds at most {@code byteAlignment - 1} bytes of padding
 * per allocation on top (a few KB for a whole ResNet).
 */
public final class CountingArena implements Arena {
    private final Arena delegate;
    private final AtomicLong bytes = new AtomicLong();

    /** Counts what is allocated in {@code delegate} through this arena; closing this closes {@code delegate}. */
    public CountingArena(Arena delegate) {
        this.delegate = delegate;
    }

    @Override
    public MemorySegment allocate(long byteSize, long byteAlignment) {
        MemorySegment s = delegate.allocate(byteSize, byteAlignment);
        bytes.addAndGet(byteSize);
        return s;
    }

    /** Bytes allocated through this arena so far (freed only all at once, when it closes). */
    public long allocatedBytes() {
        return bytes.get();
    }

    @Override
    public MemorySegment.Scope scope() {
        return delegate.scope();
    }

    @Override
    public void close() {
        delegate.close();
    }
}
