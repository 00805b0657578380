package dev.skipjack.gpu.tornadovm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.backend.ActivationShapes;
import dev.skipjack.engine.backend.Backend;
import dev.skipjack.engine.backend.Layer;
import dev.skipjack.engine.backend.Step;
import dev.skipjack.engine.kernels.ConvShape;
import dev.skipjack.engine.kernels.reference.ReferenceKernels;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Every device kernel against the engine's scalar references, through the backend as the engine drives it:
 * one run of layers on the device, for sizes that are not multiples of the work-group, with groups, strides,
 * padding, a residual, and a second (smaller) and third (larger, rebuilding the program) input shape.
 * Needs TornadoVM's runtime (run with -Ptornadovm, see docs/GPU.md).
 */
class TornadoVmKernelsTest {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    /** A small network exercising every layer kind; weights random in [-0.5, 0.5). */
    private static List<Layer> network(Arena arena) {
        var r = new SplittableRandom(7);
        var layers = new ArrayList<Layer>();
        ConvShape c0 = new ConvShape(3, 6, 3, 2, 1, 3);       // grouped, strided, padded 3x3
        ConvShape c1 = new ConvShape(6, 6, 1, 1, 0, 1);       // 1x1 with the residual add and ReLU
        ConvShape c2 = new ConvShape(6, 20, 3, 1, 1, 1);      // 3x3, 54-deep sums, 4 channels per work-item
        ConvShape c3 = new ConvShape(20, 8, 3, 2, 1, 2);      // 4 channels per work-item, grouped and strided
        layers.add(new Layer.Conv(0, "conv1", 0, 1, -1, true, c0, random(arena, r, 6 * 9), random(arena, r, 6)));
        layers.add(new Layer.MaxPool(1, "maxpool", 1, 2, 3, 2, 1));
        layers.add(new Layer.Conv(2, "layer1.0.conv1", 2, 3, 2, true, c1, random(arena, r, 36), random(arena, r, 6)));
        layers.add(new Layer.Conv(3, "layer1.0.conv2", 3, 4, -1, false, c2, random(arena, r, 20 * 54),
                random(arena, r, 20)));
        layers.add(new Layer.Conv(4, "layer2.0.conv1", 4, 5, -1, true, c3, random(arena, r, 8 * 10 * 9),
                random(arena, r, 8)));
        layers.add(new Layer.AvgPool(5, "avgpool", 5, 6));
        layers.add(new Layer.Fc(6, "fc", 6, 7, 8, 7, random(arena, r, 56), random(arena, r, 7)));
        return layers;
    }

    private static MemorySegment random(Arena arena, SplittableRandom r, int floats) {
        MemorySegment s = arena.allocate(floats * 4L, 64);
        for (int i = 0; i < floats; i++) {
            s.setAtIndex(F32, i, (float) (r.nextDouble() - 0.5));
        }
        return s;
    }

    /** Host buffers, one per value, as large as the shapes need. */
    private record Host(MemorySegment[] values, Parallel par) implements Step.Activations {
        @Override
        public MemorySegment value(int v) {
            return values[v];
        }

        @Override
        public MemorySegment scratch() {
            return MemorySegment.NULL;
        }

        @Override
        public Parallel parallel() {
            return par;
        }
    }

    /** The scalar reference of every value for {@code shapes}, value 0 being {@code input}. */
    private static MemorySegment[] reference(List<Layer> layers, ActivationShapes s, MemorySegment input,
                                             Arena arena) {
        var v = new MemorySegment[s.values()];
        v[0] = input;
        int n = s.batch();
        for (Layer l : layers) {
            int i = l.input();
            MemorySegment out = arena.allocate(s.floats(l.output()) * 4, 64);
            switch (l) {
                case Layer.Conv c -> ReferenceKernels.conv2d(c.shape(), v[i], c.weight(), c.bias(),
                        c.residual() < 0 ? null : v[c.residual()], c.relu(), n, s.height(i), s.width(i), out, null);
                case Layer.MaxPool p -> ReferenceKernels.maxPool2d(v[i], out, n, s.channels(i), s.height(i), s.width(i),
                        p.kernel(), p.stride(), p.pad());
                case Layer.AvgPool p -> ReferenceKernels.globalAvgPool(v[i], out, n, s.channels(i), s.height(i),
                        s.width(i));
                case Layer.Fc f -> ReferenceKernels.linear(v[i], f.weight(), f.bias(), out, n, f.inFeatures(),
                        f.outFeatures());
            }
            v[l.output()] = out;
        }
        return v;
    }

    private static void check(List<Layer> layers, Step step, int n, int h, int w, long seed, Arena arena) {
        ActivationShapes s = ActivationShapes.infer(layers, n, h, w);
        MemorySegment input = random(arena, new SplittableRandom(seed), (int) s.floats(0));
        MemorySegment[] want = reference(layers, s, input, arena);
        var got = new MemorySegment[s.values()];
        got[0] = input;
        for (int v = 1; v < got.length; v++) {
            got[v] = arena.allocate(s.floats(v) * 4, 64);
            got[v].fill((byte) 0x7f); // NaN-ish garbage: every value must be written
        }
        step.run(new Host(got, null));
        for (Layer l : layers) {
            int v = l.output();
            double worst = 0, scale = 0;
            for (long i = 0; i < s.floats(v); i++) {
                float a = got[v].getAtIndex(F32, i), b = want[v].getAtIndex(F32, i);
                worst = Math.max(worst, Math.abs(a - b));
                scale = Math.max(scale, Math.abs(b));
                assertTrue(Float.isFinite(a), l.name() + " [" + n + "][" + h + "][" + w + "] element " + i + " = " + a);
            }
            // float32 rounding of sums of at most 54 products of O(1) terms, relative to the largest output.
            assertTrue(worst <= 1e-5 * Math.max(1, scale), l.name() + " at [" + n + "][3][" + h + "][" + w
                    + "]: max |device - reference| = " + worst + " (largest |reference| " + scale + ")");
            System.out.printf("%-15s [%d][%d][%d] max |tornadovm - reference| = %.3g%n", l.name(), n, h, w, worst);
        }
    }

    @Test
    void everyKernelMatchesTheScalarReference() {
        var provider = new TornadoVmProvider();
        assertNull(provider.unavailable(), "TornadoVM must be usable in this test JVM");
        try (Arena arena = Arena.ofConfined()) {
            List<Layer> layers = network(arena);
            try (Backend b = provider.open(layers)) {
                for (Layer l : layers) {
                    assertNull(b.unsupported(l), l.name());
                }
                ActivationShapes first = ActivationShapes.infer(layers, 2, 13, 17);
                boolean[] all = new boolean[first.values()];
                Arrays.fill(all, true);
                Step step = b.compile(layers, first, all);
                check(layers, step, 2, 13, 17, 1, arena);
                // A smaller shape reuses the compiled program and its buffers.
                check(layers, b.compile(layers, ActivationShapes.infer(layers, 1, 9, 10), all), 1, 9, 10, 2, arena);
                // A larger one rebuilds it.
                check(layers, b.compile(layers, ActivationShapes.infer(layers, 3, 21, 19), all), 3, 21, 19, 3, arena);
                check(layers, step, 2, 13, 17, 4, arena);
            }
        }
    }

    @Test
    void onlyTheValuesTheHostNeedsComeBack() {
        var provider = new TornadoVmProvider();
        assertNull(provider.unavailable());
        try (Arena arena = Arena.ofConfined()) {
            List<Layer> layers = network(arena);
            try (Backend b = provider.open(layers)) {
                ActivationShapes s = ActivationShapes.infer(layers, 2, 11, 11);
                boolean[] onHost = new boolean[s.values()];
                onHost[7] = true; // the logits only
                Step step = b.compile(layers, s, onHost);
                MemorySegment input = random(arena, new SplittableRandom(9), (int) s.floats(0));
                var got = new MemorySegment[s.values()];
                got[0] = input;
                for (int v = 1; v < got.length; v++) {
                    got[v] = arena.allocate(s.floats(v) * 4, 64);
                    got[v].fill((byte) 0x11);
                }
                step.run(new Host(got, null));
                MemorySegment[] want = reference(layers, s, input, arena);
                for (int v = 1; v < 7; v++) {
                    for (long i = 0; i < s.floats(v); i++) {
                        assertEquals((byte) 0x11, got[v].get(ValueLayout.JAVA_BYTE, i * 4),
                                "value " + v + " stays on the device");
                    }
                }
                for (long i = 0; i < s.floats(7); i++) {
                    assertEquals(want[7].getAtIndex(F32, i), got[7].getAtIndex(F32, i), 1e-5);
                }
            }
        }
    }

    @Test
    void autoTimesALayer() {
        var provider = new TornadoVmProvider();
        assertNull(provider.unavailable());
        try (Arena arena = Arena.ofConfined()) {
            List<Layer> layers = network(arena);
            try (Backend b = provider.open(layers)) {
                double t = b.time(layers.get(3), ActivationShapes.infer(layers, 1, 32, 32));
                assertTrue(t > 0 && t < 10, "seconds: " + t);
            }
        }
    }
}
