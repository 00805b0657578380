package dev.skipjack.engine.backend;

import java.util.List;

/**
 * How an optional accelerator backend plugs in: a {@link java.util.ServiceLoader} service, found on the class
 * path or module path at run time (the TornadoVM backend lives in the separate {@code skipjack-gpu-tornadovm}
 * module), so the engine never links an accelerator's classes.
 *
 * <p>Implementations must make {@link #unavailable()} safe on any JVM: it checks whatever tells it the
 * accelerator's runtime is present (system properties, classes) before touching any class of that runtime,
 * and never throws.
 */
public interface BackendProvider {
    /** Short name: {@code tornadovm}. */
    String name();

    /** Null if {@link #open} can be called on this JVM, else one line saying why not. Never throws. */
    String unavailable();

    /**
     * Opens the backend for one model. {@code layers} is the whole forward pass in order; their weight segments
     * are valid only during this call.
     */
    Backend open(List<Layer> layers);
}
