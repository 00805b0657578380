package dev.skipjack.gpu.tornadovm;

import uk.ac.manchester.tornado.api.TornadoBackend;
import uk.ac.manchester.tornado.api.TornadoRuntime;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;

/**
 * The first code that touches TornadoVM's runtime: only called once {@link TornadoVmProvider} has seen the
 * JVM was started with TornadoVM's flags (initialising the runtime without them fails hard).
 */
final class TornadoVmProbe {
    private TornadoVmProbe() {}

    /** The default device in words, or null if TornadoVM has no device. */
    static String defaultDevice() {
        TornadoRuntime runtime = TornadoRuntimeProvider.getTornadoRuntime();
        int devices = 0;
        for (int b = 0; b < runtime.getNumBackends(); b++) {
            TornadoBackend backend = runtime.getBackend(b);
            devices += backend == null ? 0 : backend.getNumDevices();
        }
        if (devices == 0) {
            return null;
        }
        TornadoDevice d = runtime.getDefaultDevice();
        return d.getPlatformName().strip() + ": " + d.getDeviceName().strip() + " (" + d.getDeviceType() + ")";
    }
}
