package dev.skipjack.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class SharesTest {

    @Test
    void eachPartTakesItsOwnShareInOrderThenTheRestOfTheOthersFromTheBack() {
        Shares s = new Shares();
        s.reset(10, 3); // shares [0, 3), [3, 6), [6, 10)
        assertEquals(List.of(3, 4, 5), take(s, 1, 3));
        assertEquals(List.of(0, 1), take(s, 0, 2));
        // part 1's share is done: it goes on with part 2's, last item first, then what is left of part 0's
        assertEquals(List.of(9, 8, 7, 6, 2), take(s, 1, 5));
        assertEquals(-1, s.claim(1));
        assertEquals(-1, s.claim(0));
        assertEquals(-1, s.claim(2));
        // a reset starts over, with more parts than before
        s.reset(4, 4);
        assertEquals(List.of(2, 3, 0, 1), take(s, 2, 4));
        assertEquals(-1, s.claim(3));
        s.reset(0, 2);
        assertEquals(-1, s.claim(0));
        assertThrows(IllegalArgumentException.class, () -> s.reset(5, 0));
    }

    @Test
    void aThiefAndTheOwnerMeetInsideTheOwnersShare() {
        Shares s = new Shares();
        s.reset(10, 2); // shares [0, 5), [5, 10)
        assertEquals(List.of(0), take(s, 0, 1));
        assertEquals(List.of(5, 6, 7, 8, 9), take(s, 1, 5));
        assertEquals(List.of(4, 3), take(s, 1, 2)); // part 0 held up: part 1 takes its last items
        assertEquals(List.of(1, 2), take(s, 0, 2)); // while part 0 goes on in order
        assertEquals(-1, s.claim(0));
        assertEquals(-1, s.claim(1));
    }

    @Test
    void concurrentPartsClaimEveryItemExactlyOnce() throws InterruptedException {
        Shares s = new Shares();
        int items = 100_000, parts = 4;
        s.reset(items, parts);
        AtomicIntegerArray seen = new AtomicIntegerArray(items);
        Thread[] threads = new Thread[parts];
        for (int p = 0; p < parts; p++) {
            int self = p;
            threads[p] = new Thread(() -> {
                for (int i; (i = s.claim(self)) >= 0; ) {
                    seen.incrementAndGet(i);
                }
            });
            threads[p].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        for (int i = 0; i < items; i++) {
            assertEquals(1, seen.get(i), "item " + i);
        }
    }

    private static List<Integer> take(Shares s, int self, int count) {
        List<Integer> got = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            got.add(s.claim(self));
        }
        return got;
    }
}
