package dev.skipjack.engine.backend;

import java.util.List;

/**
 * First-fit buffer assignment by liveness, shared by the CPU plan and the device programs of accelerator
 * backends: walking the operations in order, a value takes the lowest-numbered buffer whose previous value's
 * last reader ran strictly before this step (so an operation never writes a buffer it reads), else a new one.
 */
public final class BufferAssignment {
    private BufferAssignment() {}

    /**
     * Assigns a buffer to {@code value}, produced at {@code step} and needing {@code size} units (bytes or floats:
     * the caller's choice), and grows that buffer's size to fit it.
     *
     * @param lastUse the step of each value's last reader
     * @param holder  per buffer, the value it holds now (updated)
     * @param sizes   per buffer, the largest size it must have (updated)
     * @return the buffer's index
     */
    public static int take(int value, int step, long size, int[] lastUse, List<Integer> holder, List<Long> sizes) {
        for (int b = 0; b < holder.size(); b++) {
            if (lastUse[holder.get(b)] < step) {
                holder.set(b, value);
                sizes.set(b, Math.max(sizes.get(b), size));
                return b;
            }
        }
        holder.add(value);
        sizes.add(size);
        return holder.size() - 1;
    }
}
