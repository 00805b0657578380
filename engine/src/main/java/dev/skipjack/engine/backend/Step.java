package dev.skipjack.engine.backend;

import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.MemorySegment;

/**
 * What a plan runs: one or more consecutive layers on one backend, for one input shape. Steps are made
 * when a plan is made and then run for every inference of that shape, possibly from several threads with
 * different {@link Activations}; running one allocates nothing.
 */
public interface Step {
    /** Reads the values it needs from {@code acts} and writes there every value a later step reads. */
    void run(Activations acts);

    /** The host-side memory of one inference in flight. */
    interface Activations {
        /** The buffer holding value {@code v}, float32 NCHW (at least as large as the value). */
        MemorySegment value(int v);

        /** Scratch for the CPU kernels, 64-byte aligned, as large as the plan asked for. */
        MemorySegment scratch();

        /** The pool the CPU kernels run on. */
        Parallel parallel();
    }
}
