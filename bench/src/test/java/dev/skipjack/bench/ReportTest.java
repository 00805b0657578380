package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ReportTest {
    @Test
    void rowDerivesPerImageRatesFromTheMedian() {
        // batch 4, calls of 38, 40, 400 ms: the median call is 40 ms, so 10 ms per image, 100 images/s.
        var t = new Harness.Timing("skipjack", 900, 10, new double[] {400, 40, 38});
        Report.Row r = Report.row("resnet50", 4, 2, t, 8_000_000_000L, 400.0, new Ratio(0.8, 0.7, 0.9), 1e-5);
        assertEquals(10, r.perImageMs().median(), 1e-12);
        assertEquals(100, r.imagesPerSecond(), 1e-9);
        assertEquals(200, r.gflops(), 1e-9);        // 8 GFLOP in 40 ms
        assertEquals(50, r.percentOfPeak(), 1e-9);  // of 400 GFLOP/s
        assertEquals(900, r.firstCallMs());
        assertEquals(new Ratio(0.8, 0.7, 0.9), r.ratioVsOrt());
    }

    @Test
    void ratioIsOfMedians() {
        var a = new Harness.Timing("a", 0, 0, new double[] {9, 10, 1000});
        var b = new Harness.Timing("b", 0, 0, new double[] {20, 19, 21});
        assertEquals(0.5, Report.ratio(a, b).value(), 1e-12);
    }

    @Test
    void maxAbsDiff() {
        assertEquals(0.5, Report.maxAbsDiff(new float[] {1, 2, 3}, new float[] {1, 2.5f, 2.75f}), 1e-7);
        assertTrue(Double.isNaN(Report.maxAbsDiff(new float[] {1, Float.NaN}, new float[] {1, 2})));
        assertThrows(IllegalArgumentException.class, () -> Report.maxAbsDiff(new float[1], new float[2]));
    }

    @Test
    void tableHasEveryColumnAndDashesWhereNothingApplies() {
        var sj = Report.row("resnet50", 1, 2, new Harness.Timing("skipjack", 1234.4, 10, new double[] {50, 52, 54}),
                4_100_000_000L, 200, new Ratio(0.95, 0.904, 1.0049), 2.3e-5);
        var ort = Report.row("resnet50", 1, 2, new Harness.Timing("onnxruntime", 300, 10,
                new double[] {53, 55, 57}), 4_100_000_000L, 200, null, null);
        String[] lines = Report.table(List.of(sj, ort)).split("\n");
        assertEquals(3, lines.length);
        assertEquals(List.of("model", "batch", "threads", "runtime", "ms/img", "p10-p90", "img/s", "GFLOP/s",
                "%peak", "vs", "ORT", "95%", "CI", "max|dlogit|", "1st", "call", "ms"), List.of(lines[0].split("\\s+")));
        assertEquals(List.of("resnet50", "1", "2", "skipjack", "52.0", "50.4-53.6", "19.2", "78.8", "39.4%",
                "0.95", "0.90-1.00", "2.3e-05", "1234"), List.of(lines[1].split("\\s+")));
        assertEquals(List.of("resnet50", "1", "2", "onnxruntime", "55.0", "53.4-56.6", "18.2", "74.5", "37.3%",
                "-", "-", "-", "300.0"), List.of(lines[2].split("\\s+")));
    }

    @Test
    void rowJsonHasStatisticsAndSamples() {
        var r = Report.row("resnet18", 2, 1, new Harness.Timing("onnxruntime", 5, 3, new double[] {4, 6}), 10, 1,
                null, null);
        String json = Json.write(Report.rowJson(r));
        assertTrue(json.startsWith("{\"batch\":2,\"runtime\":\"onnxruntime\",\"threads\":1,\"ms_per_image\":"
                + "{\"median\":2.5,"), json);
        assertTrue(json.contains("\"ratio_vs_onnxruntime\":null,\"ratio_vs_onnxruntime_ci95\":null,"), json);
        assertTrue(json.endsWith("\"warmup_rounds\":3,\"measured_rounds\":2,\"samples_ms_per_batch\":[4,6]}"), json);
        assertNull(r.maxLogitDiff());
    }

    @Test
    void millisecondsKeepThreeSignificantDigits() {
        assertEquals("0.123", Report.ms(0.1234));
        assertEquals("5.43", Report.ms(5.432));
        assertEquals("54.3", Report.ms(54.32));
        assertEquals("1234", Report.ms(1234.4));
    }
}
