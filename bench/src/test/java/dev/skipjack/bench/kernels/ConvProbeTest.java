package dev.skipjack.bench.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.skipjack.engine.kernels.ConvShape;
import dev.skipjack.engine.kernels.reference.ReferenceKernels;
import dev.skipjack.engine.runtime.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * The kernel benchmarks time real convolutions: each setup's kernel (the one a network runs for the shape),
 * run once, gives what the reference convolution gives on the same input and weights.
 */
class ConvProbeTest {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    @Test
    void setupsRunTheNetworksKernelsAndComputeTheConvolution() {
        try (Parallel par = new Parallel(2); Arena arena = Arena.ofShared()) {
            for (String name : new String[] {"stem7x7s2", "l1_1x1_64_64", "l2_3x3_128", "l4_3x3s2_512"}) {
                check(ResNet50Convs.byName(name), par, arena);
            }
            check(ResNet50Convs.byName("l3_3x3s2_256").gemm(), par, arena);
        }
    }

    @Test
    void theStemReadsNchwAndTheOthersRunChannelsLast() {
        try (Arena arena = Arena.ofShared()) {
            assertEquals("NCHW>NHWC-PADDED", algorithm("stem7x7s2", arena));
            assertEquals("WINOGRAD4-NHWC", algorithm("l1_3x3_64", arena));
            assertEquals("WINOGRAD2-NHWC", algorithm("l3_3x3_256", arena));
            assertEquals("NHWC", algorithm("l4_3x3_512", arena));
            assertEquals("NHWC", algorithm("l2_1x1_128_512", arena));
        }
    }

    private static String algorithm(String name, Arena arena) {
        return new ConvProbe.Setup(ResNet50Convs.byName(name), 1, arena).conv.algorithm();
    }

    private static void check(ResNet50Convs.Conv c, Parallel par, Arena arena) {
        ConvProbe.Setup st = new ConvProbe.Setup(c, par.threads(), arena);
        st.run(par);
        ConvShape s = c.shape();
        int h = c.h(), w = c.w(), oh = s.outH(h), ow = s.outW(w), cin = s.cin(), cout = s.cout();
        boolean stem = cin == 3;
        // the reference reads NCHW: the channels-last input transposed
        MemorySegment in = stem ? st.in : arena.allocate((long) cin * h * w * 4, 64);
        if (!stem) {
            for (int p = 0; p < h * w; p++) {
                for (int ch = 0; ch < cin; ch++) {
                    in.set(F32, ((long) ch * h * w + p) * 4, st.in.get(F32, ((long) p * cin + ch) * 4));
                }
            }
        }
        long outCount = (long) cout * oh * ow;
        MemorySegment want = arena.allocate(outCount * 4, 64), mag = arena.allocate(outCount * 4, 64);
        ReferenceKernels.conv2d(s, in, st.weight, st.bias, null, true, 1, h, w, want, mag);
        String what = c.name() + " (" + s + ", " + st.conv.algorithm() + ")";
        for (int p = 0; p < oh * ow; p++) {
            for (int co = 0; co < cout; co++) {
                float e = want.get(F32, ((long) co * oh * ow + p) * 4);
                float g = st.out.get(F32, ((long) p * cout + co) * 4);
                double tol = 1e-5 * mag.get(F32, ((long) co * oh * ow + p) * 4) + 1e-7;
                if (!(Math.abs(e - g) <= tol)) {
                    fail(what + ": pixel " + p + " channel " + co + " expected " + e + " got " + g);
                }
            }
        }
        for (int co = 0; co < cout; co++) { // the channels-last output's zero pixel, which the next layer reads
            assertEquals(0f, st.out.get(F32, ((long) oh * ow * cout + co) * 4), what + ": zero pixel");
        }
    }
}
