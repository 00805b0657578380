package dev.skipjack.bench;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * A runtime for tests: each run "takes" a fixed number of milliseconds on a {@link FakeClock} (the first call
 * of a bind takes {@code firstMs}), appends its name to a shared call log, and produces logits that are a
 * fixed function of the input plus {@code offset}, so two runners disagree by exactly the offset.
 */
final class ScriptedRunner implements Runner {
    private final String name;
    private final FakeClock clock;
    private final double firstMs;
    private final double msPerImage;
    private final float offset;
    private final List<String> log;
    private final int classes;
    private MemorySegment input;
    private int n;
    private boolean first;
    private float[] logits;
    boolean closed;

    ScriptedRunner(String name, FakeClock clock, double firstMs, double msPerImage, float offset, int classes,
                   List<String> log) {
        this.name = name;
        this.clock = clock;
        this.firstMs = firstMs;
        this.msPerImage = msPerImage;
        this.offset = offset;
        this.classes = classes;
        this.log = log;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int numClasses() {
        return classes;
    }

    @Override
    public void bind(MemorySegment in, int n, int h, int w) {
        this.input = in;
        this.n = n;
        this.first = true;
        log.add(name + ":bind" + n);
    }

    @Override
    public void run() {
        clock.advanceMillis(first ? firstMs : msPerImage * n);
        first = false;
        log.add(name);
        logits = new float[n * classes];
        long perImage = input.byteSize() / 4 / n;
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < classes; c++) {
                logits[i * classes + c] = input.getAtIndex(ValueLayout.JAVA_FLOAT, i * perImage + c) + offset;
            }
        }
    }

    @Override
    public float[] logits() {
        return logits.clone();
    }

    @Override
    public void close() {
        closed = true;
    }
}
