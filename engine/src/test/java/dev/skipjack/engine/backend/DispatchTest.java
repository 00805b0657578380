package dev.skipjack.engine.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.kernels.ConvShape;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How profiles become per-layer backends and plans become steps, with stand-in backends. */
class DispatchTest {
    /** A block: stem conv, max pool, conv, conv with the pooled value as residual, avg pool, fc. */
    static List<Layer> layers() {
        var none = MemorySegment.NULL;
        return List.of(
                new Layer.Conv(0, "conv1", 0, 1, -1, true, new ConvShape(3, 8, 7, 2, 3, 1), none, none),
                new Layer.MaxPool(1, "maxpool", 1, 2, 3, 2, 1),
                new Layer.Conv(2, "layer1.0.conv1", 2, 3, -1, true, new ConvShape(8, 8, 3, 1, 1, 1), none, none),
                new Layer.Conv(3, "layer1.0.conv2", 3, 4, 2, true, new ConvShape(8, 8, 3, 1, 1, 1), none, none),
                new Layer.AvgPool(4, "avgpool", 4, 5),
                new Layer.Fc(5, "fc", 5, 6, 8, 10, none, none));
    }

    /** Records what it is asked to compile; runs nothing. */
    static final class FakeBackend implements Backend {
        final String name;
        final Map<String, Double> seconds;
        final String refuses;
        final List<String> compiled = new ArrayList<>();
        final List<boolean[]> onHost = new ArrayList<>();
        boolean closed;

        FakeBackend(String name, Map<String, Double> seconds, String refuses) {
            this.name = name;
            this.seconds = seconds;
            this.refuses = refuses;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public String device() {
            return "fake " + name;
        }

        @Override
        public String unsupported(Layer layer) {
            return layer.name().equals(refuses) ? "not implemented here" : null;
        }

        @Override
        public Step compile(List<Layer> run, ActivationShapes shapes, boolean[] host) {
            compiled.add(run.get(0).name() + ".." + run.get(run.size() - 1).name());
            onHost.add(host);
            return acts -> { };
        }

        @Override
        public double time(Layer layer, ActivationShapes shapes) {
            return seconds.getOrDefault(layer.name(), 1.0);
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    static BackendProvider provider(String unavailable, Backend backend) {
        return new BackendProvider() {
            @Override
            public String name() {
                return "fakegpu";
            }

            @Override
            public String unavailable() {
                return unavailable;
            }

            @Override
            public Backend open(List<Layer> layers) {
                return backend;
            }
        };
    }

    @Test
    void cpuProfileNeverLooksForAnAccelerator() {
        var cpu = new FakeBackend("cpu", Map.of(), null);
        BackendProvider exploding = provider(null, null);
        var d = Dispatch.resolve(DispatchProfile.cpu(), layers(), cpu, List.of(new BackendProvider() {
            @Override
            public String name() {
                return "boom";
            }

            @Override
            public String unavailable() {
                throw new AssertionError("the cpu profile must not probe accelerators");
            }

            @Override
            public Backend open(List<Layer> layers) {
                return exploding.open(layers);
            }
        }));
        assertNull(d.notice());
        assertEquals(0, d.acceleratedLayers());
        d.steps(ActivationShapes.infer(layers(), 1, 32, 32));
        assertEquals(List.of("conv1..fc"), cpu.compiled, "one CPU step for the whole pass");
    }

    @Test
    void gpuWithoutAnyBackendFallsBackWithOneLine() {
        var cpu = new FakeBackend("cpu", Map.of(), null);
        // The default build's class path has no BackendProvider, so the ServiceLoader finds none.
        var d = Dispatch.resolve(DispatchProfile.gpu(), layers(), cpu);
        assertEquals("skipjack: profile gpu: no accelerator backend is on the class path (build the "
                + "skipjack-gpu-tornadovm module with mvn -Ptornadovm; see docs/GPU.md); every layer runs on the CPU",
                d.notice());
        assertEquals(0, d.acceleratedLayers());
        for (int i = 0; i < 6; i++) {
            assertEquals("cpu", d.backendOf(i));
        }
        assertTrue(d.describe().contains("no accelerator: profile gpu falls back to the CPU"), d.describe());
    }

    @Test
    void unavailableBackendSaysWhyOnOneLine() {
        var cpu = new FakeBackend("cpu", Map.of(), null);
        var d = Dispatch.resolve(DispatchProfile.auto(), layers(), cpu,
                List.of(provider("the JVM was not started with its flags\n(really)", null)));
        assertEquals("skipjack: profile auto: fakegpu is unavailable: the JVM was not started with its flags "
                + "(really); every layer runs on the CPU", d.notice());
        assertFalse(d.notice().contains("\n"));
        assertEquals(0, d.acceleratedLayers());
    }

    @Test
    void fileProfileFallbackCountsThePinnedLayers() {
        var cpu = new FakeBackend("cpu", Map.of(), null);
        var d = Dispatch.resolve(DispatchProfile.parse("layer1.* = gpu", "p"), layers(), cpu, List.of());
        assertTrue(d.notice().endsWith("; the 2 layers it sends to gpu/auto run on the CPU"), d.notice());
    }

    @Test
    void gpuRunsWhatTheBackendSupportsAndCopiesBackOnlyAtTheEdges() {
        var cpu = new FakeBackend("cpu", Map.of(), null);
        var gpu = new FakeBackend("fakegpu", Map.of(), "maxpool");
        var d = Dispatch.resolve(DispatchProfile.gpu(), layers(), cpu, List.of(provider(null, gpu)));
        assertNull(d.notice());
        assertEquals(5, d.acceleratedLayers());
        assertEquals("cpu", d.backendOf(1));
        assertTrue(d.describe().contains("fakegpu cannot run it: not implemented here"), d.describe());
        d.steps(ActivationShapes.infer(layers(), 2, 40, 40));
        assertEquals(List.of("conv1..conv1", "layer1.0.conv1..fc"), gpu.compiled);
        assertEquals(List.of("maxpool..maxpool"), cpu.compiled);
        // conv1's output is read by the CPU max pool; the pooled value 2 comes from the CPU.
        assertArrayEquals(new boolean[] {false, true, false, false, false, false, false}, gpu.onHost.get(0));
        // In the second run only the logits go back to the host (value 2, the residual, is an input of the run).
        assertArrayEquals(new boolean[] {false, false, false, false, false, false, true}, gpu.onHost.get(1));
        d.close();
        assertTrue(gpu.closed);
    }

    @Test
    void autoKeepsTheFasterBackendPerLayer() {
        var cpu = new FakeBackend("cpu", Map.of("conv1", 3e-3, "fc", 1e-4), null);
        var gpu = new FakeBackend("fakegpu", Map.of("conv1", 1e-3, "fc", 5e-4), null);
        var d = Dispatch.resolve(DispatchProfile.auto(), layers(), cpu, List.of(provider(null, gpu)));
        assertEquals("fakegpu", d.backendOf(0));
        assertEquals("cpu", d.backendOf(5));
        String plan = d.describe();
        assertTrue(plan.contains("cpu ms"), plan);
        assertTrue(plan.matches("(?s).*conv1 +fakegpu +3\\.000 +1\\.000 +auto: fakegpu was faster.*"), plan);
        assertTrue(plan.matches("(?s).*fc +cpu +0\\.100 +0\\.500 +auto: cpu was faster.*"), plan);
    }

    @Test
    void acceleratorThatEndsUpUnusedIsClosed() {
        var cpu = new FakeBackend("cpu", Map.of(), null);
        var gpu = new FakeBackend("fakegpu", Map.of("conv1", 9.0, "maxpool", 9.0, "layer1.0.conv1", 9.0,
                "layer1.0.conv2", 9.0, "avgpool", 9.0, "fc", 9.0), null);
        var d = Dispatch.resolve(DispatchProfile.auto(), layers(), cpu, List.of(provider(null, gpu)));
        assertEquals(0, d.acceleratedLayers());
        assertTrue(gpu.closed);
    }
}
