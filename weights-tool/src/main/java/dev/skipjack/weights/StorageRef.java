package dev.skipjack.weights;

/**
 * A reference to one storage (a flat array of elements) from a pickle's persistent id. The container reader
 * resolves it to bytes.
 *
 * @param type     element type
 * @param key      the storage's key: the zip entry {@code <prefix>/data/<key>}, or the legacy format's root key
 * @param numel    element count as the pickle declares it
 * @param location the device it was saved from ("cpu", "cuda:0"); informational, the bytes are the same
 * @param view     legacy format only: this reference is a slice of the root storage, else null
 */
record StorageRef(StorageType type, String key, long numel, String location, View view) {
    /** A legacy storage view: elements [offset, offset + numel) of the root storage, known under its own key. */
    record View(String key, long offset, long numel) {}

    @Override
    public String toString() {
        return "a " + type.className + " (key " + key + ")";
    }
}
