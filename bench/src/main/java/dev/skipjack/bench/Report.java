package dev.skipjack.bench;

import dev.skipjack.engine.model.LayerProfile;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Turns timings into the rows a person reads (the table) and a machine reads (JSON, the history). */
final class Report {
    private Report() {}

    /**
     * One line of the table: one runtime at one batch size.
     *
     * @param model        architecture name
     * @param batch        images per call
     * @param threads      threads the runtime used
     * @param runtime      "skipjack" or "onnxruntime"
     * @param perImageMs   statistics of milliseconds per image (call time / batch)
     * @param firstCallMs  the first call at this batch size, whole batch, before warm-up
     * @param warmupRounds warm-up calls after the first
     * @param samplesMs    each measured call's milliseconds, whole batch
     * @param imagesPerSecond from the median
     * @param gflops       direct-convolution GFLOP per second, from the median
     * @param percentOfPeak {@code gflops} over the measured FP32 peak, in percent
     * @param ratioVsOrt   this runtime's median time over ONNX Runtime's, with its 95% interval (Skipjack rows
     *                     only; else null)
     * @param maxLogitDiff max |logit difference| to ONNX Runtime on the same input (Skipjack rows; else null)
     */
    record Row(String model, int batch, int threads, String runtime, Stats perImageMs, double firstCallMs,
               int warmupRounds, double[] samplesMs, double imagesPerSecond, double gflops, double percentOfPeak,
               Ratio ratioVsOrt, Double maxLogitDiff) {}

    /** Builds a row from a timing; {@code flops} is one call's direct-convolution FLOPs at this batch. */
    static Row row(String model, int batch, int threads, Harness.Timing t, long flops, double peakGflops,
                   Ratio ratioVsOrt, Double maxLogitDiff) {
        Stats perImage = Stats.of(t.samplesMs()).scaled(1.0 / batch);
        double medianBatchMs = perImage.median() * batch;
        double gflops = flops / (medianBatchMs * 1e6);
        return new Row(model, batch, threads, t.runtime(), perImage, t.firstCallMs(), t.warmupRounds(),
                t.samplesMs(), 1000.0 / perImage.median(), gflops, 100.0 * gflops / peakGflops, ratioVsOrt,
                maxLogitDiff);
    }

    /** Median time of {@code a} over that of {@code b}, and its interval; their calls measured in the same rounds. */
    static Ratio ratio(Harness.Timing a, Harness.Timing b) {
        return Ratio.of(a.samplesMs(), b.samplesMs());
    }

    /** The largest |a[i] - b[i]|; NaN anywhere gives NaN, so a broken output can never look like a match. */
    static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("logits of different lengths: " + a.length + " and " + b.length);
        }
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs((double) a[i] - b[i]);
            if (Double.isNaN(d)) {
                return Double.NaN;
            }
            max = Math.max(max, d);
        }
        return max;
    }

    /** The results table. */
    static String table(List<Row> rows) {
        var t = new TextTable(List.of(
                new TextTable.Column("model", false),
                new TextTable.Column("batch", true),
                new TextTable.Column("threads", true),
                new TextTable.Column("runtime", false),
                new TextTable.Column("ms/img", true),
                new TextTable.Column("p10-p90", true),
                new TextTable.Column("img/s", true),
                new TextTable.Column("GFLOP/s", true),
                new TextTable.Column("%peak", true),
                new TextTable.Column("vs ORT", true),
                new TextTable.Column("95% CI", true),
                new TextTable.Column("max|dlogit|", true),
                new TextTable.Column("1st call ms", true)));
        for (Row r : rows) {
            t.add(r.model(), Integer.toString(r.batch()), Integer.toString(r.threads()), r.runtime(),
                    ms(r.perImageMs().median()), ms(r.perImageMs().p10()) + "-" + ms(r.perImageMs().p90()),
                    fixed(r.imagesPerSecond(), r.imagesPerSecond() < 10 ? 2 : 1), fixed(r.gflops(), 1),
                    fixed(r.percentOfPeak(), 1) + "%",
                    r.ratioVsOrt() == null ? "-" : fixed(r.ratioVsOrt().value(), 2),
                    r.ratioVsOrt() == null ? "-" : fixed(r.ratioVsOrt().lo(), 2) + "-" + fixed(r.ratioVsOrt().hi(), 2),
                    r.maxLogitDiff() == null ? "-" : String.format(Locale.ROOT, "%.1e", r.maxLogitDiff()),
                    ms(r.firstCallMs()));
        }
        return t.render();
    }

    /**
     * Where the time goes: each layer timed inside whole passes (median over passes), its share of their sum,
     * GFLOP/s in direct-convolution FLOPs and percent of the measured peak; a last line sums them. With
     * {@code ort} (not null), ONNX Runtime's time for the same module from its profiler and the ratio, and a
     * line for the nodes of its graph that match no layer.
     */
    static String layerTable(List<LayerProfile.Entry> layers, double peakGflops, OrtProfile.ByModule ort) {
        var cols = new ArrayList<>(List.of(
                new TextTable.Column("layer", false),
                new TextTable.Column("what", false),
                new TextTable.Column("ms", true),
                new TextTable.Column("share", true),
                new TextTable.Column("GFLOP/s", true),
                new TextTable.Column("%peak", true)));
        if (ort != null) {
            cols.add(new TextTable.Column("ORT ms", true));
            cols.add(new TextTable.Column("vs ORT", true));
        }
        var t = new TextTable(cols);
        double total = 0, ortMatched = 0, skjMatched = 0;
        long flops = 0;
        for (var l : layers) {
            total += l.seconds();
            flops += l.flops();
        }
        var placed = new HashSet<String>();
        for (var l : layers) {
            double g = l.flops() / l.seconds() / 1e9;
            var cells = new ArrayList<>(List.of(l.name(), l.what(), ms(l.seconds() * 1e3),
                    fixed(100 * l.seconds() / total, 1) + "%", l.flops() == 0 ? "-" : fixed(g, 1),
                    l.flops() == 0 ? "-" : fixed(100 * g / peakGflops, 1) + "%"));
            if (ort != null) {
                Double o = ort.seconds().get(l.name());
                for (String f : l.fused()) { // a module fused into this layer: its time too, where ORT has it
                    Double more = ort.seconds().get(f);
                    if (o != null && more != null) {
                        o += more;
                        placed.add(f);
                    }
                }
                if (o == null) {
                    cells.add("-");
                    cells.add("-");
                } else {
                    cells.add(ms(o * 1e3));
                    cells.add(fixed(l.seconds() / o, 2));
                    placed.add(l.name());
                    ortMatched += o;
                    skjMatched += l.seconds();
                }
            }
            t.add(cells.toArray(String[]::new));
        }
        double g = flops / total / 1e9;
        var sum = new ArrayList<>(List.of("sum", layers.size() + " layers", ms(total * 1e3), "100%", fixed(g, 1),
                fixed(100 * g / peakGflops, 1) + "%"));
        if (ort != null) {
            sum.add(ms(ortMatched * 1e3));
            sum.add(ortMatched > 0 ? fixed(skjMatched / ortMatched, 2) : "-");
        }
        t.add(sum.toArray(String[]::new));
        var sb = new StringBuilder("\nEach layer inside whole passes (median of " + LayerProfile.PASSES
                + " passes after warm-up):\n").append(t.render());
        if (ort != null) {
            // Modules of ONNX Runtime's graph that no layer here has, and nodes it added itself (layout reorders).
            var others = new ArrayList<String>();
            double otherSeconds = 0;
            for (var e : ort.seconds().entrySet()) {
                if (!placed.contains(e.getKey())) {
                    others.add(e.getKey());
                    otherSeconds += e.getValue();
                }
            }
            for (var nd : ort.unplaced()) {
                others.add(nd.name() + " (" + nd.op() + ")");
                otherSeconds += nd.seconds();
            }
            sb.append("ORT ms: ONNX Runtime's own time for the module (and for a downsample fused into it; its profiler, median of ")
                    .append(LayerProfile.PASSES).append(" runs in a session of its own; the sum line sums the layers "
                            + "both have; vs ORT below 1.00 Skipjack is faster).\n");
            if (!others.isEmpty()) {
                sb.append(String.format(Locale.ROOT, "ONNX Runtime nodes matching no layer: %s ms in %d: %s%n",
                        ms(otherSeconds * 1e3), others.size(), String.join(", ", others)));
            }
        }
        return sb.toString();
    }

    /** Milliseconds with three or more significant digits: 0.123, 5.43, 54.3, 412. */
    static String ms(double v) {
        if (v < 1) {
            return fixed(v, 3);
        }
        if (v < 10) {
            return fixed(v, 2);
        }
        return fixed(v, v < 1000 ? 1 : 0);
    }

    static String fixed(double v, int decimals) {
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    /** 10.0 -> "10", 2.50 -> "2.5": a number without a pointless fraction. */
    static String trimNumber(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%.3f", v).replaceAll("0+$", "");
    }

    /** A row as a JSON object. */
    static Map<String, Object> rowJson(Row r) {
        var m = new LinkedHashMap<String, Object>();
        m.put("batch", r.batch());
        m.put("runtime", r.runtime());
        m.put("threads", r.threads());
        var s = new LinkedHashMap<String, Object>();
        s.put("median", r.perImageMs().median());
        s.put("p10", r.perImageMs().p10());
        s.put("p90", r.perImageMs().p90());
        s.put("mad", r.perImageMs().mad());
        s.put("min", r.perImageMs().min());
        s.put("max", r.perImageMs().max());
        m.put("ms_per_image", s);
        m.put("images_per_s", r.imagesPerSecond());
        m.put("gflops", r.gflops());
        m.put("percent_of_peak", r.percentOfPeak());
        m.put("ratio_vs_onnxruntime", r.ratioVsOrt() == null ? null : r.ratioVsOrt().value());
        m.put("ratio_vs_onnxruntime_ci95", r.ratioVsOrt() == null ? null
                : new double[] {r.ratioVsOrt().lo(), r.ratioVsOrt().hi()});
        m.put("max_abs_logit_diff", r.maxLogitDiff());
        m.put("first_call_ms", r.firstCallMs());
        m.put("warmup_rounds", r.warmupRounds());
        m.put("measured_rounds", r.samplesMs().length);
        m.put("samples_ms_per_batch", r.samplesMs());
        return m;
    }

    static List<Map<String, Object>> rowsJson(List<Row> rows) {
        var out = new ArrayList<Map<String, Object>>();
        for (Row r : rows) {
            out.add(rowJson(r));
        }
        return out;
    }
}
