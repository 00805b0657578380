package dev.skipjack.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.backend.ActivationShapes;
import dev.skipjack.engine.backend.Backend;
import dev.skipjack.engine.backend.BackendProvider;
import dev.skipjack.engine.backend.Dispatch;
import dev.skipjack.engine.backend.DispatchProfile;
import dev.skipjack.engine.backend.Layer;
import dev.skipjack.engine.backend.Step;
import dev.skipjack.engine.runtime.Parallel;
import dev.skipjack.format.ModelFormatException;
import dev.skipjack.format.proto.Architecture;
import dev.skipjack.format.proto.BlockType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The CPU backend, and plans whose layers alternate between it and a stand-in device, in the default build.
 * The stand-in runs its layers with the CPU kernels but then overwrites every value it was told the host does
 * not need with NaN, as if that value had stayed on a device: a plan that read such a value on the host would
 * give NaN logits.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CpuBackendTest {
    // Bottleneck blocks with downsample branches, groups and a two-block stage.
    private static final Architecture ARCH = Architecture.newBuilder().setName("custom")
            .setBlock(BlockType.BOTTLENECK).addStageBlocks(1).addStageBlocks(2).addStageBlocks(1).addStageBlocks(1)
            .setGroups(2).setWidthPerGroup(32).setNumClasses(10).build();

    private Arena arena;
    private Network net;
    private List<Layer> layers;
    private Parallel par;

    @BeforeAll
    void build() throws ModelFormatException {
        arena = Arena.ofShared();
        ResNetGraph g = ResNetGraph.of(ARCH);
        var weights = WeightLoader.load(g, SeededWeights.create(g, 3, arena), "seeded", arena);
        net = Network.build(g, weights, arena);
        layers = Layers.of(g, weights);
        par = new Parallel(2);
    }

    @AfterAll
    void free() {
        par.close();
        arena.close();
    }

    @Test
    void timesEveryLayerOnThePool() {
        var cpu = new CpuBackend(net, par);
        assertEquals("2 threads", cpu.device());
        ActivationShapes s = ActivationShapes.infer(layers, 1, 64, 48);
        for (Layer l : layers) {
            assertNull(cpu.unsupported(l));
            double t = cpu.time(l, s);
            assertTrue(t > 0 && t < 10, l.name() + ": " + t + " s");
        }
    }

    @Test
    void timesEveryLayerInsideWholePasses() {
        var cpu = new CpuBackend(net, par);
        ActivationShapes s = ActivationShapes.infer(layers, 2, 40, 56);
        double[] t = cpu.timeInPasses(layers, s, 3);
        assertEquals(layers.size(), t.length);
        for (int i = 0; i < t.length; i++) {
            assertTrue(t[i] > 0 && t[i] < 10, layers.get(i).name() + ": " + t[i] + " s");
        }
        var e = assertThrows(IllegalArgumentException.class, () -> cpu.timeInPasses(layers, s, 0));
        assertEquals("passes must be >= 1, got 0", e.getMessage());
        var profile = LayerProfile.measure(net, par, 1, 32, 32);
        assertEquals(layers.stream().map(Layer::name).toList(),
                profile.stream().map(LayerProfile.Entry::name).toList());
        assertTrue(profile.get(0).what().startsWith("conv 7x7/2 3->64 32x32 "), profile.get(0).what());
    }

    /** Runs its layers on the CPU, then poisons what the host was not promised. */
    private static final class PoisoningDevice implements Backend {
        private final CpuBackend cpu;
        final List<String> runs = new ArrayList<>();

        PoisoningDevice(CpuBackend cpu) {
            this.cpu = cpu;
        }

        @Override
        public String name() {
            return "poison";
        }

        @Override
        public String device() {
            return "a stand-in device";
        }

        @Override
        public String unsupported(Layer layer) {
            return null;
        }

        @Override
        public Step compile(List<Layer> run, ActivationShapes shapes, boolean[] onHost) {
            runs.add(run.getFirst().name() + ".." + run.getLast().name());
            int m = run.size();
            var steps = new Step[m];
            // After layer t: the values no later layer of the run reads and the host does not need.
            var poison = new ArrayList<List<Integer>>();
            for (int t = 0; t < m; t++) {
                steps[t] = cpu.compile(List.of(run.get(t)), shapes, onHost);
                poison.add(new ArrayList<>());
            }
            for (int t = 0; t < m; t++) {
                int v = run.get(t).output();
                if (onHost[v]) {
                    continue;
                }
                int last = t;
                for (int u = t + 1; u < m; u++) {
                    if (run.get(u).reads(v)) {
                        last = u;
                    }
                }
                poison.get(last).add(v);
            }
            return acts -> {
                for (int t = 0; t < m; t++) {
                    steps[t].run(acts);
                    for (int v : poison.get(t)) {
                        MemorySegment s = acts.value(v);
                        for (long i = 0; i < shapes.floats(v); i++) {
                            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.NaN);
                        }
                    }
                }
            };
        }

        @Override
        public double time(Layer layer, ActivationShapes shapes) {
            return 1;
        }

        @Override
        public void close() {}
    }

    private float[] infer(Dispatch d, float[] input, int n, int h, int w) {
        Plan p = Plan.create(net, d, n, h, w, par.threads());
        try (var ctx = new ExecutionContext()) {
            ctx.ensure(p);
            ctx.copyIn(p, input);
            ctx.run(net, p, par, null);
            MemorySegment out = ctx.output(p);
            float[] logits = new float[n * 10];
            MemorySegment.copy(out, ValueLayout.JAVA_FLOAT, 0, logits, 0, logits.length);
            return logits;
        }
    }

    @Test
    void layersAlternatingWithADeviceGiveTheCpuLogits() {
        var cpu = new CpuBackend(net, par);
        var device = new PoisoningDevice(cpu);
        BackendProvider provider = new BackendProvider() {
            @Override
            public String name() {
                return "poison";
            }

            @Override
            public String unavailable() {
                return null;
            }

            @Override
            public Backend open(List<Layer> l) {
                return device;
            }
        };
        var profile = DispatchProfile.parse("""
                *                    = gpu
                maxpool              = cpu
                layer2.0.conv2       = cpu
                layer2.1.*           = cpu
                layer3.0.downsample.0 = cpu
                fc                   = cpu
                """, "alternating");
        Dispatch split = Dispatch.resolve(profile, layers, cpu, List.of(provider));
        Dispatch all = Dispatch.allOn(cpu, layers);
        int n = 2, h = 45, w = 61;
        var r = new SplittableRandom(5);
        float[] input = new float[n * 3 * h * w];
        for (int i = 0; i < input.length; i++) {
            input[i] = (float) r.nextGaussian();
        }
        infer(all, input, n, h, w); // warm-up: results move in the last bits while the JIT compiles the kernels
        float[] want = infer(all, input, n, h, w);
        float[] got = infer(split, input, n, h, w);
        // The residual of layer2.0.conv3 comes from a device run, its input from the CPU; layer3.0.conv3 adds
        // the CPU's downsampled identity on the device.
        assertEquals(List.of("conv1..conv1", "layer1.0.downsample.0..layer2.0.conv1", "layer2.0.conv3..layer2.0.conv3",
                "layer3.0.conv1..avgpool"), device.runs);
        double diff = 0, scale = 0;
        for (int i = 0; i < want.length; i++) {
            assertTrue(Float.isFinite(got[i]), "logit " + i + " = " + got[i] + ": the plan read a value left on the device");
            diff = Math.max(diff, Math.abs(got[i] - want[i]));
            scale = Math.max(scale, Math.abs(want[i]));
        }
        assertTrue(diff <= 1e-6 * Math.max(1, scale), "split logits differ by " + diff);
    }
}
