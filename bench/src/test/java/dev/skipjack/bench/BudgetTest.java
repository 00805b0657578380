package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BudgetTest {
    @Test
    void parsesCountsAndTimes() {
        assertEquals(Budget.ofRounds(30), Budget.parse("--iterations", "30", false, 5));
        assertEquals(Budget.ofNanos(10_000_000_000L, 5), Budget.parse("--iterations", "10s", false, 5));
        assertEquals(Budget.ofNanos(2_500_000_000L, 5), Budget.parse("--iterations", "2.5s", false, 5));
        assertEquals(Budget.ofNanos(500_000_000L, 0), Budget.parse("--warmup", "500ms", true, 0));
        assertEquals(Budget.ofRounds(0), Budget.parse("--warmup", "0", true, 0));
    }

    @Test
    void rejectsBadValuesNamingTheOption() {
        var e = assertThrows(IllegalArgumentException.class, () -> Budget.parse("--iterations", "0", false, 5));
        assertTrue(e.getMessage().startsWith("--iterations"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("--warmup", "-1", true, 0));
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("--warmup", "0s", true, 0));
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("--warmup", "fast", true, 0));
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("--warmup", "3min", true, 0));
    }

    @Test
    void countBudgetStopsAtTheCount() {
        Budget b = Budget.ofRounds(3);
        assertFalse(b.isSpent(2, Long.MAX_VALUE));
        assertTrue(b.isSpent(3, 0));
    }

    @Test
    void timeBudgetRunsItsMinimumRoundsEvenWhenOverTime() {
        Budget b = Budget.ofNanos(1_000, 5);
        assertFalse(b.isSpent(4, 1_000_000));
        assertTrue(b.isSpent(5, 1_000));
        assertFalse(b.isSpent(100, 999));
    }

    @Test
    void describesItself() {
        assertEquals("30 rounds", Budget.ofRounds(30).describe());
        assertEquals("1 round", Budget.ofRounds(1).describe());
        assertEquals("10 s", Budget.ofNanos(10_000_000_000L, 0).describe());
        assertEquals("0.5 s", Budget.ofNanos(500_000_000L, 0).describe());
    }
}
