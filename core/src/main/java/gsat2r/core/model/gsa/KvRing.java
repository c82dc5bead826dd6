package gsat2r.core.model.gsa;

import gsat2r.core.T2rException;
import gsat2r.core.model.DecoderState;

/**
 * The KV cache of one attention layer of a decoding sequence: keys (after RoPE) and values as rows of
 * {@code kv_heads · head_dim} floats, position p in row {@code p % capacity}. With a window W it never
 * holds more than W rows (a ring buffer: older keys can no longer be seen); without one it grows by
 * doubling. Same contract as {@code Attention.decode} expects.
 */
final class KvRing {
    private final int rowWidth, window;
    private float[] keys = new float[0], values = new float[0];
    private int capacity;

    KvRing(int rowWidth, int window) {
        this.rowWidth = rowWidth;
        this.window = window;
    }

    int capacity() {
        return capacity;
    }

    float[] keys() {
        return keys;
    }

    float[] values() {
        return values;
    }

    /** Bytes held now (fp32). */
    long bytes() {
        return 8L * capacity * rowWidth;
    }

    /** Makes room for positions up to {@code nextPosition − 1}, keeping the rows of positions before {@code held}. */
    void ensure(int held, int nextPosition) {
        int needed = window > 0 ? Math.min(nextPosition, window) : nextPosition;
        if (needed <= capacity) return;
        int grown = Math.max(needed, Math.max(16, 2 * capacity));
        if (window > 0) grown = Math.min(grown, window);
        float[] k = new float[grown * rowWidth], v = new float[grown * rowWidth];
        for (int p = Math.max(0, held - capacity); p < held; p++) {
            System.arraycopy(keys, (p % capacity) * rowWidth, k, (p % grown) * rowWidth, rowWidth);
            System.arraycopy(values, (p % capacity) * rowWidth, v, (p % grown) * rowWidth, rowWidth);
        }
        keys = k;
        values = v;
        capacity = grown;
    }

    /** Stores the key and value rows of {@code position} (room must have been made). */
    void put(int position, float[] k, int kOff, float[] v, int vOff) {
        int at = (position % capacity) * rowWidth;
        System.arraycopy(k, kOff, keys, at, rowWidth);
        System.arraycopy(v, vOff, values, at, rowWidth);
    }

    /** The rows that decoding from {@code position} on still reads: all positions, or the last {@code window}. */
    int rowsKept(int position) {
        return window > 0 ? Math.min(position, window) : position;
    }

    /** A copy of the rows kept after {@code position} tokens, oldest first. */
    DecoderState.KeyValue save(int layer, int position) {
        int rows = rowsKept(position);
        float[] k = new float[rows * rowWidth], v = new float[rows * rowWidth];
        for (int i = 0; i < rows; i++) {
            int at = ((position - rows + i) % capacity) * rowWidth;
            System.arraycopy(keys, at, k, i * rowWidth, rowWidth);
            System.arraycopy(values, at, v, i * rowWidth, rowWidth);
        }
        return new DecoderState.KeyValue(layer, rowWidth, rows, k, v);
    }

    /** Replaces the contents with {@code state}, the rows kept after {@code position} tokens. */
    void restore(DecoderState.KeyValue state, int position) {
        if (state.rowWidth() != rowWidth || state.rows() != rowsKept(position)) {
            throw new T2rException("attention layer " + state.layer() + ": the state holds " + state.rows() + " rows of "
                    + state.rowWidth() + " floats, this model keeps " + rowsKept(position) + " rows of " + rowWidth
                    + " after " + position + " tokens");
        }
        keys = new float[0];
        values = new float[0];
        capacity = 0;
        ensure(0, position);
        int rows = state.rows();
        for (int i = 0; i < rows; i++) put(position - rows + i, state.keys(), i * rowWidth, state.values(), i * rowWidth);
    }
}
