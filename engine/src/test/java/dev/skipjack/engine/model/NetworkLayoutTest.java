package dev.skipjack.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.backend.Dispatch;
import dev.skipjack.engine.kernels.Kernels;
import dev.skipjack.engine.runtime.Parallel;
import dev.skipjack.format.ModelFormatException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumSet;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Which values of a network are channels-last, and that the layouts give the same logits. */
class NetworkLayoutTest {

    /** The convolution producing each value, by torchvision name (null for the input and the pools). */
    private static String[] producers(ResNetGraph g) {
        String[] by = new String[g.valueCount()];
        for (ResNetGraph.Op op : g.ops()) {
            if (op instanceof ResNetGraph.Conv c) {
                by[c.output()] = g.convs().get(c.layer()).conv();
            }
        }
        return by;
    }

    @Test
    void channelsLastFromTheStemOrTheSecondStage() {
        for (String name : new String[] {"resnet18", "resnet34", "resnet50", "wide_resnet50_2"}) {
            ResNetGraph g = ResNetGraph.of(Architectures.named(name));
            boolean[] last = Network.channelsLastValues(g, true);
            String[] conv = producers(g);
            int pooled = -1;
            for (ResNetGraph.Op op : g.ops()) {
                if (op instanceof ResNetGraph.MaxPool p) {
                    pooled = p.output();
                }
            }
            for (int v = 0; v < g.valueCount(); v++) {
                // every value from the stem's output on (the max pool's too)
                boolean want = conv[v] != null || v == pooled;
                assertEquals(want, last[v], name + " value " + v + " (" + (conv[v] == null ? "pool" : conv[v]) + ")");
            }
            assertFalse(last[0], name + ": the input");
            boolean[] off = Network.channelsLastValues(g, false);
            for (boolean b : off) {
                assertFalse(b, name + " with channels-last off");
            }
        }
        // ResNeXt's grouped 3x3s cannot run channels-last: the whole network stays NCHW
        ResNetGraph x = ResNetGraph.of(Architectures.named("resnext50_32x4d"));
        for (boolean b : Network.channelsLastValues(x, true)) {
            assertFalse(b, "resnext50_32x4d");
        }
    }

    @Test
    void channelsLastAndNchwNetworksAgree() throws ModelFormatException {
        ResNetGraph g = ResNetGraph.of(Architectures.named("resnet18"));
        int n = 2, h = 45, w = 61;
        float[] input = gaussian(n * 3 * h * w, 9);
        try (Arena arena = Arena.ofShared(); Parallel par = new Parallel(2)) {
            var tensors = SeededWeights.create(g, 4, arena);
            Network nhwc = Network.build(g, tensors, "seeded", arena, true);
            Network nchw = Network.build(g, tensors, "seeded", arena, false);
            assertTrue(nhwc.conv(g.convs().size() - 1).algorithm().startsWith("NHWC"));
            assertFalse(nchw.conv(g.convs().size() - 1).algorithm().contains("NHWC"));
            // what the load's warm-up compiles for each
            assertEquals(EnumSet.of(Kernels.Family.CHANNELS_LAST), nhwc.kernelFamilies());
            assertEquals(EnumSet.of(Kernels.Family.NCHW), nchw.kernelFamilies());
            assertLogitsClose(infer(nchw, par, input, n, h, w), infer(nhwc, par, input, n, h, w), "channels-last");
        }
    }

    /**
     * ResNet-50's four downsamples go into their blocks' last 1x1 (where the vectors have 16 lanes): no layers of
     * their own in the CPU's pass, that convolution reading the block's input as its residual, and the logits those
     * of the network with them unfused. ResNet-18's blocks end in a 3x3: nothing fused.
     */
    @Test
    void downsamplesFuseIntoTheBottlenecksLastConvolution() throws ModelFormatException {
        ResNetGraph g = ResNetGraph.of(Architectures.named("resnet50"));
        int[] projections = Network.projections(g, Network.channelsLastValues(g, true));
        int fusable = (int) java.util.Arrays.stream(projections).filter(p -> p >= 0).count();
        if (dev.skipjack.engine.kernels.Simd.LANES < 16) { // the fused kernel's 6x4 tile needs 32 registers
            assertEquals(0, fusable, "ResNet-50's downsamples on " + dev.skipjack.engine.kernels.Simd.LANES + " lanes");
            return;
        }
        assertEquals(4, fusable, "ResNet-50's downsamples");
        for (int c = 0; c < projections.length; c++) {
            if (projections[c] >= 0) {
                String last = g.convs().get(c).conv(), ds = g.convs().get(projections[c]).conv();
                assertTrue(last.endsWith(".conv3") && ds.equals(last.replace("conv3", "downsample.0")), last + " <- " + ds);
            }
        }
        ResNetGraph r18 = ResNetGraph.of(Architectures.named("resnet18"));
        for (int p : Network.projections(r18, Network.channelsLastValues(r18, true))) {
            assertEquals(-1, p, "resnet18");
        }
        int n = 2, h = 45, w = 61;
        float[] input = gaussian(n * 3 * h * w, 5);
        try (Arena arena = Arena.ofShared(); Parallel par = new Parallel(2)) {
            var tensors = SeededWeights.create(g, 4, arena);
            Network fused = Network.build(g, tensors, "seeded", arena, true, true);
            Network apart = Network.build(g, tensors, "seeded", arena, true, false);
            var layers = Layers.of(fused);
            assertEquals(Layers.of(apart).size() - 4, layers.size());
            for (var l : layers) {
                assertFalse(l.name().contains("downsample"), l.name());
            }
            assertLogitsClose(infer(apart, par, input, n, h, w), infer(fused, par, input, n, h, w), "fused");
        }
    }

    private static float[] gaussian(int count, long seed) {
        var r = new SplittableRandom(seed);
        float[] x = new float[count];
        for (int i = 0; i < count; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** got within 1e-5 of want's largest logit, everywhere. */
    private static void assertLogitsClose(float[] want, float[] got, String what) {
        double diff = 0, scale = 0;
        for (int i = 0; i < want.length; i++) {
            diff = Math.max(diff, Math.abs(got[i] - want[i]));
            scale = Math.max(scale, Math.abs(want[i]));
        }
        assertTrue(scale > 0 && diff <= 1e-5 * scale, what + " logits differ by " + diff + " (scale " + scale + ")");
    }

    private static float[] infer(Network net, Parallel par, float[] input, int n, int h, int w) {
        Plan p = Plan.create(net, Dispatch.allOn(new CpuBackend(net, par), Layers.of(net)), n, h, w,
                par.threads());
        try (var ctx = new ExecutionContext()) {
            ctx.ensure(p);
            ctx.copyIn(p, input);
            ctx.run(net, p, par, null);
            MemorySegment out = ctx.output(p);
            float[] logits = new float[n * net.graph().numClasses()];
            MemorySegment.copy(out, ValueLayout.JAVA_FLOAT, 0, logits, 0, logits.length);
            return logits;
        }
    }
}
