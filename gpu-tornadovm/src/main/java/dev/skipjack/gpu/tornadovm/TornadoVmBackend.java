package dev.skipjack.gpu.tornadovm;

import dev.skipjack.engine.backend.ActivationShapes;
import dev.skipjack.engine.backend.Backend;
import dev.skipjack.engine.backend.Layer;
import dev.skipjack.engine.backend.Step;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * The TornadoVM backend of one model. Opening it copies every weight it may run into TornadoVM's off-heap
 * arrays; each run of consecutive layers the dispatch gives it becomes one {@link DeviceProgram} (one task
 * graph), built and compiled on the first plan that needs it and shared by every later plan whose shapes fit
 * its buffers. The weights reach the device on a program's first execution and stay there; only a larger
 * input shape than any before rebuilds a program (and copies its weights again).
 *
 * <p>Executions are serialized per run: the device program holds one set of buffers.
 */
final class TornadoVmBackend implements Backend {
    /** Host copies of the weights, per layer index (null for layers without weights). */
    static final class Weights {
        private final FloatArray[] weight;
        private final FloatArray[] bias;

        Weights(List<Layer> layers) {
            weight = new FloatArray[layers.size()];
            bias = new FloatArray[layers.size()];
            for (Layer l : layers) {
                switch (l) {
                    case Layer.Conv c -> {
                        var s = c.shape();
                        long floats = (long) s.cout() * (s.cin() / s.groups()) * s.kernel() * s.kernel();
                        weight[l.index()] = copy(c.weight(), floats, l.name() + " weight");
                        bias[l.index()] = copy(c.bias(), s.cout(), l.name() + " bias");
                    }
                    case Layer.Fc f -> {
                        weight[l.index()] = copy(f.weight(), (long) f.inFeatures() * f.outFeatures(), l.name() + " weight");
                        bias[l.index()] = copy(f.bias(), f.outFeatures(), l.name() + " bias");
                    }
                    default -> { }
                }
            }
        }

        private static FloatArray copy(MemorySegment src, long floats, String what) {
            if (floats > Integer.MAX_VALUE || src.byteSize() < floats * Float.BYTES) {
                throw new IllegalArgumentException(what + ": needs " + floats + " floats, segment has "
                        + src.byteSize() / Float.BYTES);
            }
            return FloatArray.fromSegment(src.asSlice(0, floats * Float.BYTES));
        }

        FloatArray weight(int layer) {
            return weight[layer];
        }

        FloatArray bias(int layer) {
            return bias[layer];
        }
    }

    /** The program of one run, rebuilt larger when a shape outgrows it. */
    private final class Run {
        private final List<Layer> layers;
        private final boolean[] onHost;
        private DeviceProgram program;

        Run(List<Layer> layers, boolean[] onHost) {
            this.layers = List.copyOf(layers);
            this.onHost = onHost.clone();
        }

        synchronized void execute(ActivationShapes shapes, Step.Activations acts) {
            if (closed) {
                throw new IllegalStateException("the model's TornadoVM backend is closed");
            }
            if (program == null || !program.fits(shapes)) {
                long[] capacity = new long[shapes.values()];
                for (int v = 0; v < capacity.length; v++) {
                    capacity[v] = shapes.floats(v);
                }
                if (program != null) {
                    long[] old = program.capacity();
                    for (int v = 0; v < capacity.length; v++) {
                        capacity[v] = Math.max(capacity[v], old[v]);
                    }
                    program.close();
                    program = null;
                }
                program = new DeviceProgram(weights, layers, onHost, capacity, shapes, false, openclFlags);
            }
            program.run(shapes, acts);
        }

        synchronized void close() {
            if (program != null) {
                program.close();
                program = null;
            }
        }
    }

    /** The auto profile's measurement: the best of this many executions after the compiling one. */
    private static final int TIMED_RUNS = 5;

    private final String device;
    private final Weights weights;
    private final String openclFlags;
    private final Map<Integer, Run> runs = new HashMap<>();
    private volatile boolean closed;

    TornadoVmBackend(List<Layer> layers, String device, String openclFlags) {
        this.device = device;
        this.openclFlags = openclFlags;
        this.weights = new Weights(layers);
    }

    @Override
    public String name() {
        return "tornadovm";
    }

    @Override
    public String device() {
        return device;
    }

    @Override
    public String unsupported(Layer layer) {
        // Every layer kind has a kernel. TornadoVM's arrays index with int: weights are checked when copied
        // (open fails), activations by the plan (no value above 2^31 floats).
        return null;
    }

    @Override
    public Step compile(List<Layer> run, ActivationShapes shapes, boolean[] onHost) {
        Run r;
        synchronized (runs) {
            if (closed) {
                throw new IllegalStateException("the model's TornadoVM backend is closed");
            }
            r = runs.computeIfAbsent(run.get(0).index(), i -> new Run(run, onHost));
        }
        return acts -> r.execute(shapes, acts);
    }

    @Override
    public double time(Layer layer, ActivationShapes shapes) {
        long[] capacity = new long[shapes.values()];
        for (int v = 0; v < capacity.length; v++) {
            capacity[v] = shapes.floats(v);
        }
        try (var p = new DeviceProgram(weights, List.of(layer), new boolean[shapes.values()], capacity, shapes, true,
                openclFlags)) {
            return p.time(shapes, TIMED_RUNS);
        }
    }

    @Override
    public void close() {
        synchronized (runs) {
            if (closed) {
                return;
            }
            closed = true;
            for (Run r : runs.values()) {
                r.close();
            }
            runs.clear();
        }
    }
}
