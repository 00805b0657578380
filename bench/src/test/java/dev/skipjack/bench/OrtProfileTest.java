package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipjack.engine.model.LayerProfile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OrtProfileTest {
    /** An event as ONNX Runtime 1.29 writes it (trimmed args), one per line. */
    private static String event(String name, long dur, String op) {
        return "{\"cat\" : \"Node\",\"pid\" :1,\"tid\" :2,\"dur\" :" + dur + ",\"ts\" :10,\"ph\" : \"X\",\"name\" :\""
                + name + "\",\"args\" : {\"output_size\" : \"64\",\"op_name\" : \"" + op + "\",\"thread_scheduling_stats\" :"
                + " {\"main_thread\": {\"thread_pool_name\": \"session-1-intra-op\"}}}}";
    }

    @Test
    void parsesKernelTimesAsMediansOfTheLastRuns() throws IOException {
        var lines = new ArrayList<String>();
        lines.add("{\"cat\" : \"Session\",\"pid\" :1,\"tid\" :2,\"dur\" :900,\"ts\" :1,\"ph\" : \"X\",\"name\" :\"model_run\",\"args\" : {}}");
        long[][] convMicros = {{5000, 100, 300, 200}, {7, 9, 8, 6}};
        for (int run = 0; run < 4; run++) {
            // a fence event of the same node, with a different duration, must not be taken for its kernel time
            lines.add(event("/layer1/layer1.0/relu/Relu_output_0_nchwc_fence_before", 77777, "Conv"));
            lines.add(event("/layer1/layer1.0/relu/Relu_output_0_nchwc_kernel_time", convMicros[0][run], "Conv"));
            lines.add(event("/fc/Gemm_kernel_time", convMicros[1][run], "Gemm"));
        }
        String json = "[\n" + String.join(",\n", lines) + "\n]\n";
        List<OrtProfile.Node> nodes = OrtProfile.parse(json, 3);
        assertEquals(2, nodes.size());
        assertEquals("/layer1/layer1.0/relu/Relu_output_0_nchwc", nodes.get(0).name());
        assertEquals("Conv", nodes.get(0).op());
        assertEquals(200e-6, nodes.get(0).seconds(), 1e-12);   // median of 100, 300, 200: the first run is left out
        assertEquals("Gemm", nodes.get(1).op());
        assertEquals(8e-6, nodes.get(1).seconds(), 1e-12);     // of 9, 8, 6
        // the same events on one line parse the same
        assertEquals(nodes, OrtProfile.parse(json.replace("\n", ""), 3));

        var few = assertThrows(IOException.class, () -> OrtProfile.parse(json, 5));
        assertEquals("ONNX Runtime's profile has 4 times for node '/layer1/layer1.0/relu/Relu_output_0_nchwc', "
                + "expected at least 5", few.getMessage());
        var none = assertThrows(IOException.class, () -> OrtProfile.parse("[]", 1));
        assertTrue(none.getMessage().contains("no node times"), none.getMessage());
    }

    @Test
    void mapsFusedNodesToTorchvisionModules() {
        assertEquals("conv1", OrtProfile.moduleOf("/relu/Relu_output_0_nchwc"));
        assertEquals("maxpool", OrtProfile.moduleOf("/maxpool/MaxPool_output_0_nchwc"));
        assertEquals("layer1.0.conv1", OrtProfile.moduleOf("/layer1/layer1.0/relu/Relu_output_0_nchwc"));
        assertEquals("layer3.2.conv2", OrtProfile.moduleOf("/layer3/layer3.2/relu_1/Relu_output_0_nchwc"));
        assertEquals("layer4.1.conv3", OrtProfile.moduleOf("/layer4/layer4.1/relu_2/Relu"));
        assertEquals("layer1.1.conv3", OrtProfile.moduleOf("/layer1/layer1.1/conv3/Conv_output_0_nchwc"));
        assertEquals("layer2.0.downsample.0",
                OrtProfile.moduleOf("/layer2/layer2.0/downsample/downsample.0/Conv_output_0_nchwc"));
        assertEquals("avgpool", OrtProfile.moduleOf("/avgpool/GlobalAveragePool_output_0_nchwc"));
        assertEquals("fc", OrtProfile.moduleOf("/fc/Gemm"));
        assertNull(OrtProfile.moduleOf("/Flatten"));
        assertNull(OrtProfile.moduleOf("ReorderOutput"));

        var by = OrtProfile.byModule(List.of(new OrtProfile.Node("/layer1/layer1.0/relu_1/Relu", "Relu", 1e-6),
                new OrtProfile.Node("/layer1/layer1.0/conv2/Conv", "Conv", 3e-6),
                new OrtProfile.Node("ReorderInput", "ReorderInput", 2e-6)));
        assertEquals(Map.of("layer1.0.conv2", 4e-6), by.seconds());
        assertEquals(List.of("ReorderInput"), by.unplaced().stream().map(OrtProfile.Node::name).toList());
    }

    @Test
    void placesEveryLayerOfTheResNet18FixtureAndLeavesOnlyItsOwnNodes() throws Exception {
        List<OrtProfile.Node> nodes;
        try (Arena arena = Arena.ofShared()) {
            nodes = OrtProfile.measure(Fixtures.file("resnet18", "model.onnx"), 2,
                    Bench.seededInput(arena, 1, 64, 64, 1), 1, 64, 64, 1, 3);
        }
        var by = OrtProfile.byModule(nodes);
        var want = new ArrayList<>(List.of("conv1", "maxpool", "avgpool", "fc"));
        for (int stage = 1; stage <= 4; stage++) {
            for (int block = 0; block < 2; block++) {
                want.add("layer" + stage + "." + block + ".conv1");
                want.add("layer" + stage + "." + block + ".conv2");
            }
            if (stage > 1) {
                want.add("layer" + stage + ".0.downsample.0");
            }
        }
        assertEquals(want.stream().sorted().toList(), by.seconds().keySet().stream().sorted().toList());
        for (double s : by.seconds().values()) {
            assertTrue(s > 0 && s < 1, "a node's median time of " + s + " s");
        }
        for (var nd : by.unplaced()) {
            assertTrue(!nd.name().startsWith("/") || nd.op().equals("Flatten"), "unplaced: " + nd);
        }
    }

    @Test
    void layerTablePutsOrtBesideEachLayer() {
        var layers = List.of(new LayerProfile.Entry("conv1", "conv 7x7/2", 2_000_000_000L, 0.002),
                new LayerProfile.Entry("maxpool", "maxpool", 0, 0.0005),
                new LayerProfile.Entry("layer1.0.conv1", "conv 3x3/1", 1_000_000_000L, 0.001));
        var ort = new OrtProfile.ByModule(Map.of("conv1", 0.004, "maxpool", 0.00025),
                List.of(new OrtProfile.Node("ReorderOutput", "ReorderOutput", 0.00001)));
        String t = Report.layerTable(layers, 2000, ort);
        assertTrue(t.contains("ORT ms  vs ORT"), t);
        assertTrue(t.matches("(?s).*conv1 .* 4\\.00 +0\\.50\\n.*"), t);            // 2 ms against 4 ms
        assertTrue(t.matches("(?s).*maxpool .* 0\\.250 +2\\.00\\n.*"), t);
        assertTrue(t.matches("(?s).*layer1\\.0\\.conv1 .* - +-\\n.*"), t);          // ONNX Runtime has no such node
        assertTrue(t.matches("(?s).*sum .* 4\\.25 +0\\.59\\n.*"), t);              // 2.5 ms of the matched against 4.25
        assertTrue(t.contains("ONNX Runtime nodes matching no layer: 0.010 ms in 1: ReorderOutput (ReorderOutput)"), t);
        assertTrue(!Report.layerTable(layers, 2000, null).contains("ORT"));
    }

    /** A layer with a downsample fused into it stands beside both of ONNX Runtime's nodes, summed. */
    @Test
    void aFusedDownsampleCountsOnOrtsSideToo() {
        var layers = List.of(new LayerProfile.Entry("layer1.0.conv3", "conv 1x1/1 + 1x1/1", 1_000_000_000L, 0.003,
                List.of("layer1.0.downsample.0")));
        var ort = new OrtProfile.ByModule(Map.of("layer1.0.conv3", 0.002, "layer1.0.downsample.0", 0.001), List.of());
        String t = Report.layerTable(layers, 2000, ort);
        assertTrue(t.matches("(?s).*layer1\\.0\\.conv3 .* 3\\.00 +1\\.00\\n.*"), t);    // 3 ms against 2 + 1 ms
        assertFalse(t.contains("matching no layer"), t);
    }
}
