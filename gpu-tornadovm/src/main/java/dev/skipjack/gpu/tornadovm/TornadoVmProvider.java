package dev.skipjack.gpu.tornadovm;

import dev.skipjack.engine.backend.Backend;
import dev.skipjack.engine.backend.BackendProvider;
import dev.skipjack.engine.backend.Layer;
import java.util.List;

/**
 * Plugs the TornadoVM backend into the engine (a {@link java.util.ServiceLoader} service). This class
 * touches no TornadoVM class until {@link #unavailable()} has seen the system properties that TornadoVM's
 * launcher flags ({@code tornado --printJavaFlags}) set, since TornadoVM's runtime provider fails hard when it
 * is initialised without them.
 *
 * <p>{@code -Dskipjack.tornadovm.openclFlags=...} overrides the OpenCL compiler flags (default {@code -w}:
 * no {@code -cl-fast-relaxed-math}, which would cost accuracy).
 */
public final class TornadoVmProvider implements BackendProvider {
    /** Set by TornadoVM's launcher flags; TornadoVM's API reads them to find its runtime. */
    static final List<String> RUNTIME_PROPERTIES = List.of("tornado.load.api.implementation",
            "tornado.load.runtime.implementation", "tornado.load.tornado.implementation");

    /**
     * TornadoVM sizes the bytecode buffer of each task graph once per JVM from this property (4096 bytes by
     * default: about 20 tasks of ours, while a ResNet-152 run has 155). It is read when the first graph is
     * compiled, so it is raised, unless the user set it, before anything of TornadoVM runs.
     */
    static final String BYTECODE_SIZE = "tornado.tvm.maxbytecodesize";
    static final String BYTECODE_SIZE_DEFAULT = String.valueOf(1 << 20);

    private String device;

    @Override
    public String name() {
        return "tornadovm";
    }

    @Override
    public synchronized String unavailable() {
        for (String p : RUNTIME_PROPERTIES) {
            if (System.getProperty(p) == null) {
                return "the JVM was not started with TornadoVM's flags (system property " + p + " is not set; "
                        + "add the output of `tornado --printJavaFlags`, see docs/GPU.md)";
            }
        }
        try {
            Class.forName("uk.ac.manchester.tornado.api.TaskGraph", false, TornadoVmProvider.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            return "TornadoVM's API (tornado-api) is not on the module or class path";
        }
        if (device == null) {
            if (System.getProperty(BYTECODE_SIZE) == null) {
                System.setProperty(BYTECODE_SIZE, BYTECODE_SIZE_DEFAULT);
            }
            try {
                device = TornadoVmProbe.defaultDevice();
            } catch (Throwable t) {
                // Whatever the runtime throws (ExceptionInInitializerError, a native library missing...) means
                // no TornadoVM here; the caller falls back to the CPU.
                return "TornadoVM failed to start: " + t;
            }
            if (device == null) {
                return "TornadoVM found no device (check `tornado --devices`)";
            }
        }
        return null;
    }

    @Override
    public synchronized Backend open(List<Layer> layers) {
        String no = unavailable();
        if (no != null) {
            throw new IllegalStateException(no);
        }
        return new TornadoVmBackend(layers, device, System.getProperty("skipjack.tornadovm.openclFlags", "-w"));
    }
}
