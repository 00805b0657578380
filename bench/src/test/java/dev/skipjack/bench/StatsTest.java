package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class StatsTest {
    @Test
    void percentilesInterpolateLikeNumpy() {
        // numpy.percentile(range(1, 11), [10, 50, 90]) == [1.9, 5.5, 9.1]
        double[] s = {7, 3, 10, 1, 5, 9, 2, 8, 4, 6};
        Stats st = Stats.of(s);
        assertEquals(10, st.count());
        assertEquals(5.5, st.median(), 1e-12);
        assertEquals(1.9, st.p10(), 1e-12);
        assertEquals(9.1, st.p90(), 1e-12);
        assertEquals(1, st.min());
        assertEquals(10, st.max());
        // |x - 5.5| = 0.5,0.5,1.5,1.5,...,4.5,4.5 -> median 2.5
        assertEquals(2.5, st.mad(), 1e-12);
    }

    @Test
    void oddCountMedianIsTheMiddleSample() {
        Stats st = Stats.of(new double[] {100, 1, 2});
        assertEquals(2, st.median());
        assertEquals(1, st.mad());  // deviations 1, 0, 98
    }

    @Test
    void oneOutlierMovesNeitherMedianNorMad() {
        Stats calm = Stats.of(new double[] {10, 11, 12, 13, 14});
        Stats spike = Stats.of(new double[] {10, 11, 12, 13, 1000});
        assertEquals(calm.median(), spike.median());
        assertEquals(calm.mad(), spike.mad());
    }

    @Test
    void singleSample() {
        Stats st = Stats.of(new double[] {4.25});
        assertEquals(4.25, st.median());
        assertEquals(4.25, st.p10());
        assertEquals(4.25, st.p90());
        assertEquals(0, st.mad());
    }

    @Test
    void inputIsNotReordered() {
        double[] s = {3, 1, 2};
        Stats.of(s);
        assertArrayEquals(new double[] {3, 1, 2}, s);
    }

    @Test
    void scaledDividesEveryStatistic() {
        Stats st = Stats.of(new double[] {8, 16, 24}).scaled(1.0 / 8);
        assertEquals(2, st.median(), 1e-12);
        assertEquals(1, st.min(), 1e-12);
        assertEquals(3, st.max(), 1e-12);
        assertEquals(1, st.mad(), 1e-12);
    }

    @Test
    void emptyIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> Stats.of(new double[0]));
    }
}
