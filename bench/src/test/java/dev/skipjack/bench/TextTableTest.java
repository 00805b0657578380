package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class TextTableTest {
    @Test
    void padsToTheWidestCellAndAlignsNumbersRight() {
        var t = new TextTable(List.of(new TextTable.Column("name", false), new TextTable.Column("ms", true),
                new TextTable.Column("note", false)));
        t.add("skipjack", "5.1", "");
        t.add("ort", "123.4", "x");
        assertEquals("""
                name         ms  note
                skipjack    5.1
                ort       123.4  x
                """, t.render());
    }

    @Test
    void headerWiderThanCells() {
        var t = new TextTable(List.of(new TextTable.Column("threads", true)));
        t.add("2");
        assertEquals("threads\n      2\n", t.render());
    }

    @Test
    void rowMustMatchColumns() {
        var t = new TextTable(List.of(new TextTable.Column("a", false)));
        assertThrows(IllegalArgumentException.class, () -> t.add("1", "2"));
    }
}
