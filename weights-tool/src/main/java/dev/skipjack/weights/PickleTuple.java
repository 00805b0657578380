package dev.skipjack.weights;

import java.util.List;

/** A Python tuple from the pickle: immutable, and hashable when its items are (so it can be a dict key). */
record PickleTuple(List<Object> items) {
    PickleTuple {
        items = java.util.Collections.unmodifiableList(new java.util.ArrayList<>(items));
    }

    static final PickleTuple EMPTY = new PickleTuple(List.of());

    int size() {
        return items.size();
    }

    Object get(int i) {
        return items.get(i);
    }

    @Override
    public String toString() {
        return "a tuple of " + items.size();
    }
}
