package gsat2r.core.model.llama;

import gsat2r.core.T2rException;
import gsat2r.core.model.DecoderState;

import java.util.ArrayList;
import java.util.List;

/**
 * Keys and values (after RoPE) of the positions a decoder has seen, per layer, as rows of
 * {@code kvHeads · headDim} floats; position {@code p} lives in row {@code p % capacity}. With a
 * sliding window W the cache never holds more than W rows (older keys can no longer be seen, so a
 * ring buffer overwrites them); without one it grows by doubling.
 */
final class KvCache {
    private final int layers, rowWidth, window;
    private float[][] keys, values;
    private int capacity;

    KvCache(int layers, int rowWidth, int window) {
        this.layers = layers;
        this.rowWidth = rowWidth;
        this.window = window;
        this.keys = new float[layers][0];
        this.values = new float[layers][0];
    }

    int capacity() {
        return capacity;
    }

    /** Bytes of the key and value arrays allocated now, over all layers (fp32). */
    long bytes() {
        long floats = 0;
        for (int l = 0; l < layers; l++) floats += (long) keys[l].length + values[l].length;
        return floats * Float.BYTES;
    }

    float[] keys(int layer) {
        return keys[layer];
    }

    float[] values(int layer) {
        return values[layer];
    }

    /** Makes room for positions up to {@code nextPosition − 1}, keeping positions before {@code held}. */
    void ensure(int held, int nextPosition) {
        int needed = window > 0 ? Math.min(nextPosition, window) : nextPosition;
        if (needed <= capacity) return;
        int grown = Math.max(needed, Math.max(16, 2 * capacity));
        if (window > 0) grown = Math.min(grown, window);
        for (int l = 0; l < layers; l++) {
            float[] k = new float[grown * rowWidth], v = new float[grown * rowWidth];
            for (int p = Math.max(0, held - capacity); p < held; p++) {
                System.arraycopy(keys[l], (p % capacity) * rowWidth, k, (p % grown) * rowWidth, rowWidth);
                System.arraycopy(values[l], (p % capacity) * rowWidth, v, (p % grown) * rowWidth, rowWidth);
            }
            keys[l] = k;
            values[l] = v;
        }
        capacity = grown;
    }

    /** Stores the key and value rows of {@code position} (room must have been made with {@link #ensure}). */
    void put(int layer, int position, float[] k, int kOff, float[] v, int vOff) {
        int at = (position % capacity) * rowWidth;
        System.arraycopy(k, kOff, keys[layer], at, rowWidth);
        System.arraycopy(v, vOff, values[layer], at, rowWidth);
    }

    /** The rows that decoding from {@code position} on still reads: all positions, or the last {@code window}. */
    int rowsKept(int position) {
        return window > 0 ? Math.min(position, window) : position;
    }

    /** Copies of every layer's rows kept after {@code position} tokens, oldest first. */
    List<DecoderState.LayerState> save(int position) {
        int rows = rowsKept(position);
        List<DecoderState.LayerState> out = new ArrayList<>(layers);
        for (int l = 0; l < layers; l++) {
            float[] k = new float[rows * rowWidth], v = new float[rows * rowWidth];
            for (int i = 0; i < rows; i++) {
                int at = ((position - rows + i) % capacity) * rowWidth;
                System.arraycopy(keys[l], at, k, i * rowWidth, rowWidth);
                System.arraycopy(values[l], at, v, i * rowWidth, rowWidth);
            }
            out.add(new DecoderState.KeyValue(l, rowWidth, rows, k, v));
        }
        return out;
    }

    /** Replaces the contents with {@code state}'s layers (all of them key/value rows kept after {@code position} tokens). */
    void restore(List<DecoderState.LayerState> state, int position) {
        if (state.size() != layers) {
            throw new T2rException("the state has " + state.size() + " layers, this model " + layers);
        }
        int rows = rowsKept(position);
        for (DecoderState.LayerState s : state) {
            if (!(s instanceof DecoderState.KeyValue kv) || kv.rowWidth() != rowWidth || kv.rows() != rows) {
                throw new T2rException("layer " + s.layer() + ": the state holds " + describe(s) + ", this model keeps "
                        + rows + " key/value rows of " + rowWidth + " floats after " + position + " tokens");
            }
        }
        for (int l = 0; l < layers; l++) {
            keys[l] = new float[0];
            values[l] = new float[0];
        }
        capacity = 0;
        ensure(0, position);
        for (DecoderState.LayerState s : state) {
            DecoderState.KeyValue kv = (DecoderState.KeyValue) s;
            for (int i = 0; i < rows; i++) {
                put(kv.layer(), position - rows + i, kv.keys(), i * rowWidth, kv.values(), i * rowWidth);
            }
        }
    }

    static String describe(DecoderState.LayerState s) {
        return switch (s) {
            case DecoderState.KeyValue kv -> kv.rows() + " key/value rows of " + kv.rowWidth() + " floats";
            case DecoderState.Recurrent r -> "a GSA recurrent state " + r.state();
        };
    }
}
