package gsat2r.core.cpu;

/**
 * Token embedding lookup {@code out[t] = table[ids[t]]} with a {@code [vocab, dim]} table, and its
 * backward, the scatter-add {@code dTable[ids[t]] += dout[t]}.
 */
public final class Embedding {
    private Embedding() {}

    /** Copies the rows of {@code count} token ids into {@code out [count, dim]}. Ids must be in range. */
    public static void forward(float[] out, int outOff, int[] ids, int idsOff, int count,
                               float[] table, int tableOff, int vocab, int dim) {
        for (int t = 0; t < count; t++) {
            int id = ids[idsOff + t];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
            }
            System.arraycopy(table, tableOff + id * dim, out, outOff + t * dim, dim);
        }
    }

    /**
     * {@code dTable[ids[t]] += dout[t]}. Threads split the columns, not the tokens, so that repeated ids
     * never race and every row sums its tokens in order: the result does not depend on threads.
     */
    public static void backward(float[] dTable, int dTableOff, int[] ids, int idsOff, int count,
                                float[] dout, int doutOff, int dim) {
        Parallel.forRange(dim, 64, (c0, c1) -> {
            for (int t = 0; t < count; t++) {
                int row = dTableOff + ids[idsOff + t] * dim, g = doutOff + t * dim;
                for (int c = c0; c < c1; c++) dTable[row + c] += dout[g + c];
            }
        });
    }
}
