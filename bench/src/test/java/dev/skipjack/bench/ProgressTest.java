package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import org.junit.jupiter.api.Test;

class ProgressTest {
    @Test
    void liveLineIsRewrittenInPlaceAndThrottled() {
        var clock = new FakeClock();
        var bytes = new ByteArrayOutputStream();
        var p = new Progress(new PrintStream(bytes), true, clock);
        p.phase("warming up");
        p.step("1/10");             // too soon after the phase: not printed
        clock.advanceMillis(150);
        p.step("2/10");
        clock.advanceMillis(150);
        p.phase("go");              // shorter than before: padded over the old text
        p.clear();
        String pre = "skipjack bench: ";
        String l1 = pre + "warming up";
        String l2 = pre + "warming up 2/10";
        String l3 = pre + "go";
        assertEquals("\r" + l1 + "\r" + l2 + "\r" + l3 + " ".repeat(l2.length() - l3.length())
                + "\r" + " ".repeat(l3.length()) + "\r", bytes.toString());
    }
}
