package gsat2r.converter;

import java.util.function.Consumer;

/**
 * A GSA layer's per-kv-head tensors for a student with more kv heads than its teacher: every teacher kv head's block
 * written {@code copies} times in a row, so that student kv head j starts as teacher kv head j / copies, the head its
 * query heads read in the teacher. The converted student then computes what the student with the teacher's kv heads
 * computes; the copies part in training, each learning from its own query heads only.
 */
public final class HeadCopies {
    private HeadCopies() {}

    /** {@code values} ({@code heads} blocks of {@code block} elements) with every block repeated {@code copies} times. */
    public static float[] repeat(float[] values, int heads, int block, int copies) {
        if ((long) heads * block != values.length) throw new IllegalArgumentException(values.length + " values are not " + heads + " blocks of " + block);
        float[] out = new float[values.length * copies];
        for (int h = 0; h < heads; h++) {
            for (int c = 0; c < copies; c++) System.arraycopy(values, h * block, out, (h * copies + c) * block, block);
        }
        return out;
    }

    /**
     * The teacher's blocks back from {@code copied} ({@code heads · copies} blocks, as {@link #repeat} writes them): the
     * first copy of every head, {@code heads} blocks of {@code block} elements.
     */
    public static float[] firstCopies(float[] copied, int heads, int block, int copies) {
        if ((long) heads * copies * block != copied.length) {
            throw new IllegalArgumentException(copied.length + " values are not " + heads + " x " + copies + " blocks of " + block);
        }
        float[] out = new float[heads * block];
        for (int h = 0; h < heads; h++) System.arraycopy(copied, h * copies * block, out, h * block, block);
        return out;
    }

    /**
     * A row consumer for a tensor written row after row ({@link GateInit#write}): it holds a head's {@code rowsPerHead}
     * rows and passes them on {@code copies} times once the head is complete.
     */
    static final class Rows implements Consumer<float[]> {
        private final Consumer<float[]> out;
        private final int rowsPerHead, copies;
        private float[][] held;
        private int count;

        Rows(Consumer<float[]> out, int rowsPerHead, int copies) {
            this.out = out;
            this.rowsPerHead = rowsPerHead;
            this.copies = copies;
        }

        @Override
        public void accept(float[] row) {
            if (copies == 1) {
                out.accept(row);
                return;
            }
            if (held == null) held = new float[rowsPerHead][];
            held[count++] = row.clone();
            if (count < rowsPerHead) return;
            for (int c = 0; c < copies; c++) {
                for (float[] r : held) out.accept(r);
            }
            count = 0;
        }
    }
}
