package dev.skipjack.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * A plain-text table for a terminal: one header row, columns padded to their widest cell, text columns
 * aligned left and number columns right, two spaces between columns, no trailing spaces.
 */
final class TextTable {
    /** A column: its header and whether its cells align right (numbers) or left (names). */
    record Column(String header, boolean right) {}

    private final List<Column> columns;
    private final List<String[]> rows = new ArrayList<>();

    TextTable(List<Column> columns) {
        this.columns = List.copyOf(columns);
    }

    /** Adds a row; there must be one cell per column. */
    void add(String... cells) {
        if (cells.length != columns.size()) {
            throw new IllegalArgumentException("row has " + cells.length + " cells, table has " + columns.size()
                    + " columns");
        }
        rows.add(cells.clone());
    }

    /** The table, one line per row after the header, each line ending in '\n'. */
    String render() {
        int[] width = new int[columns.size()];
        for (int c = 0; c < width.length; c++) {
            width[c] = columns.get(c).header().length();
            for (String[] row : rows) {
                width[c] = Math.max(width[c], row[c].length());
            }
        }
        var sb = new StringBuilder();
        String[] header = columns.stream().map(Column::header).toArray(String[]::new);
        line(header, width, sb);
        for (String[] row : rows) {
            line(row, width, sb);
        }
        return sb.toString();
    }

    private void line(String[] cells, int[] width, StringBuilder sb) {
        var line = new StringBuilder();
        for (int c = 0; c < cells.length; c++) {
            if (c > 0) {
                line.append("  ");
            }
            String pad = " ".repeat(width[c] - cells[c].length());
            if (columns.get(c).right()) {
                line.append(pad).append(cells[c]);
            } else {
                line.append(cells[c]).append(pad);
            }
        }
        sb.append(line.toString().stripTrailing()).append('\n');
    }
}
