package gsat2r.gpumodels;

import gsat2r.core.model.DecoderState;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Attention;

/**
 * The keys and values (after RoPE) of one attention layer of one sequence being decoded: rows of
 * {@code width = kvHeads·headDim}, position p in row {@code p % capacity}. With a window, the capacity is
 * the window (a ring: older rows are never read again); without one, it grows by doubling as positions
 * arrive (then no row ever wraps).
 */
final class KvRing implements AutoCloseable {
    private final Gpu gpu;
    private final ElementType type;
    private final int width, window;
    private DeviceBuffer keys, values;
    private int capacity;

    KvRing(Gpu gpu, ElementType type, int width, int window, int initialCapacity) {
        this.gpu = gpu;
        this.type = type;
        this.width = width;
        this.window = window;
        this.capacity = window > 0 ? window : Math.max(16, initialCapacity);
        this.keys = gpu.allocate(type, (long) capacity * width);
        this.values = gpu.allocate(type, (long) capacity * width);
    }

    int capacity() {
        return capacity;
    }

    DeviceBuffer keys() {
        return keys;
    }

    DeviceBuffer values() {
        return values;
    }

    /** The rows that decoding from {@code position} on still reads: all positions, or the last {@code window}. */
    int rowsKept(int position) {
        return window > 0 ? Math.min(position, window) : position;
    }

    /** A host copy of the rows kept after {@code position} tokens, oldest first, fp32 (what the CPU decoders save). */
    DecoderState.KeyValue save(int layer, int position) {
        int rows = rowsKept(position);
        float[] k = new float[rows * width], v = new float[rows * width];
        if (rows > 0) {
            float[] ak = keys.toFloatArray(), av = values.toFloatArray();
            for (int i = 0; i < rows; i++) {
                int at = ((position - rows + i) % capacity) * width;
                System.arraycopy(ak, at, k, i * width, width);
                System.arraycopy(av, at, v, i * width, width);
            }
        }
        return new DecoderState.KeyValue(layer, width, rows, k, v);
    }

    /** Whether {@code state} fits this ring after {@code position} tokens (row width, and the rows it must hold). */
    boolean fits(DecoderState.KeyValue state, int position) {
        return state.rowWidth() == width && state.rows() == rowsKept(position);
    }

    /** Replaces the contents with {@code state}, the rows kept after {@code position} tokens (one copy each way). */
    void restore(DecoderState.KeyValue state, int position) {
        ensure(position);
        int rows = state.rows();
        if (rows == 0) return;
        float[] ak = new float[capacity * width], av = new float[capacity * width];
        for (int i = 0; i < rows; i++) {
            int at = ((position - rows + i) % capacity) * width;
            System.arraycopy(state.keys(), i * width, ak, at, width);
            System.arraycopy(state.values(), i * width, av, at, width);
        }
        keys.copyFrom(ak);
        values.copyFrom(av);
    }

    long bytes() {
        return 2L * capacity * width * type.bytes();
    }

    /** Sets every key and value to zero. */
    void zero() {
        keys.zero();
        values.zero();
    }

    /** Makes room for positions below {@code end} (grows only without a window). */
    void ensure(int end) {
        if (window > 0 || end <= capacity) return;
        int grown = Math.max(2 * capacity, end);
        DeviceBuffer k = gpu.allocate(type, (long) grown * width), v = gpu.allocate(type, (long) grown * width);
        k.view(0, (long) capacity * width).copyFrom(keys);
        v.view(0, (long) capacity * width).copyFrom(values);
        keys.close();
        values.close();
        keys = k;
        values = v;
        capacity = grown;
    }

    /** Stores rows {@code t0 .. t0+count} of {@code k, v [T, width]} as positions {@code p0 ..} (at most two copies each). */
    void put(int p0, DeviceBuffer k, DeviceBuffer v, int t0, int count) {
        while (count > 0) {
            int row = p0 % capacity, run = Math.min(count, capacity - row);
            keys.view((long) row * width, (long) run * width).copyFrom(k.view((long) t0 * width, (long) run * width));
            values.view((long) row * width, (long) run * width).copyFrom(v.view((long) t0 * width, (long) run * width));
            p0 += run;
            t0 += run;
            count -= run;
        }
    }

    /**
     * Attention of T new tokens at positions {@code pos0 ..} ({@code q [T, H·D]}, {@code k, v [T, width]},
     * after RoPE) into {@code att [T, H·D]}, storing their keys and values. From position 0, the flash forward over
     * the tokens; after a multiple of 64 positions whose rows have not wrapped (every ring without a window, and one
     * with a window before it fills), the flash forward of the new queries against the cache with their keys
     * appended, the rows of one forward over every position bit for bit; otherwise the decode kernel token by token.
     */
    void attend(int heads, int kvHeads, int headDim, float scale, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer att,
                int T, int pos0) {
        ensure(pos0 + T);
        int qw = heads * headDim;
        Attention.Shape shape = new Attention.Shape(1, T, heads, kvHeads, headDim, window, scale);
        if (pos0 == 0) {
            Attention.forward(gpu, shape, att, null, q, k, v);
            int keep = Math.min(T, capacity);
            put(T - keep, k, v, T - keep, keep);
            return;
        }
        if (pos0 % Attention.BLOCK == 0 && pos0 + T <= capacity) {       // rows 0 .. pos0+T-1 in place, none wrapped
            put(pos0, k, v, 0, T);
            Attention.forwardAfter(gpu, shape, pos0, att, q, keys, values);
            return;
        }
        Attention.Shape one = new Attention.Shape(1, 1, heads, kvHeads, headDim, window, scale);
        for (int t = 0; t < T; t++) {
            put(pos0 + t, k, v, t, 1);
            Attention.decode(gpu, one, att.view((long) t * qw, qw), q.view((long) t * qw, qw), keys, values, capacity, pos0 + t);
        }
    }

    @Override
    public void close() {
        keys.close();
        values.close();
    }
}
