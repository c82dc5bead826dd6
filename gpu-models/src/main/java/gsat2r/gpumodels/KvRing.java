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
        return rowsKept(window, position);
    }

    static int rowsKept(int window, int position) {
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
        runs(p0, count, (ring, at, rows) -> {
            keys.view(ring, rows).copyFrom(k.view((long) t0 * width + at, rows));
            values.view(ring, rows).copyFrom(v.view((long) t0 * width + at, rows));
        });
    }

    /** Copies the rows of positions {@code from .. from+count-1} into rows 0 .. count-1 of {@code k, v} (at most two copies each). */
    private void inOrder(int from, int count, DeviceBuffer k, DeviceBuffer v) {
        runs(from, count, (ring, at, rows) -> {
            k.view(at, rows).copyFrom(keys.view(ring, rows));
            v.view(at, rows).copyFrom(values.view(ring, rows));
        });
    }

    /** A run of consecutive ring rows: its offset in the ring, its offset from the first position's row, its length (elements). */
    private interface Run {
        void copy(long ring, long at, long length);
    }

    /** The runs (at most two) of the ring rows holding positions {@code p0 .. p0+count-1}. */
    private void runs(int p0, int count, Run run) {
        int at = 0;
        while (count > 0) {
            int row = p0 % capacity, n = Math.min(count, capacity - row);
            run.copy((long) row * width, (long) at * width, (long) n * width);
            p0 += n;
            at += n;
            count -= n;
        }
    }

    /**
     * Attention of T new tokens at positions {@code pos0 ..} ({@code q [T, H·D]}, {@code k, v [T, width]},
     * after RoPE) into {@code att [T, H·D]}, storing their keys and values. From position 0, the flash forward over
     * the tokens. Later, the flash forward of the new queries after the rows kept (every position before, or the last
     * {@code window}) with the new keys appended, when those rows are a multiple of 64: in place while no row wraps,
     * else through a copy of the rows in position order (a window's mask depends only on how far apart two positions
     * are, so the kept rows may start at position 0 of the copy). Tokens before the rows kept reach a multiple of 64
     * go through the decode kernel one at a time, as do all of them behind a full window that is no multiple of 64.
     */
    void attend(int heads, int kvHeads, int headDim, float scale, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer att,
                int T, int pos0) {
        ensure(pos0 + T);
        Attention.Shape shape = new Attention.Shape(1, T, heads, kvHeads, headDim, window, scale);
        if (pos0 == 0) {
            Attention.forward(gpu, shape, att, null, q, k, v);
            putLatest(0, k, v, T);
            return;
        }
        int alone = tokensAlone(window, pos0, T);
        int qw = heads * headDim;
        Attention.Shape one = new Attention.Shape(1, 1, heads, kvHeads, headDim, window, scale);
        for (int t = 0; t < alone; t++) {
            put(pos0 + t, k, v, t, 1);
            Attention.decode(gpu, one, att.view((long) t * qw, qw), q.view((long) t * qw, qw), keys, values, capacity, pos0 + t);
        }
        if (alone < T) {
            int rest = T - alone, p0 = pos0 + alone;
            Attention.Shape after = new Attention.Shape(1, rest, heads, kvHeads, headDim, window, scale);
            DeviceBuffer q1 = q.view((long) alone * qw, (long) rest * qw), att1 = att.view((long) alone * qw, (long) rest * qw);
            long kvOff = (long) alone * width, kvLen = (long) rest * width;
            DeviceBuffer k1 = k.view(kvOff, kvLen), v1 = v.view(kvOff, kvLen);
            afterKeptRows(after, p0, q1, k1, v1, att1);
        }
    }

    /**
     * How many of T tokens at {@code pos0 ..} (pos0 > 0) go through the decode kernel before the rest can take the
     * flash forward: until the rows kept reach a multiple of 64; all T behind a full window that is no multiple of 64.
     */
    static int tokensAlone(int window, int pos0, int T) {
        int alone = 0;
        while (alone < T && rowsKept(window, pos0 + alone) % Attention.BLOCK != 0) {
            if (window > 0 && pos0 + alone >= window) return T;          // the kept rows stay the window
            alone++;
        }
        return alone;
    }

    /** The flash forward of {@code rest} new tokens at {@code p0 ..} after the rows kept, a multiple of 64 of them. */
    private void afterKeptRows(Attention.Shape s, int p0, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer att) {
        int T = s.seqLen(), past = rowsKept(p0);
        if (past == p0 && p0 + T <= capacity) {                            // rows 0 .. p0+T-1 in place, none wrapped
            put(p0, k, v, 0, T);
            Attention.forwardAfter(gpu, s, past, att, q, keys, values);
            return;
        }
        long rows = (long) past + T;
        try (DeviceBuffer ck = gpu.allocate(type, rows * width); DeviceBuffer cv = gpu.allocate(type, rows * width)) {
            inOrder(p0 - past, past, ck, cv);
            ck.view((long) past * width, (long) T * width).copyFrom(k);
            cv.view((long) past * width, (long) T * width).copyFrom(v);
            Attention.forwardAfter(gpu, s, past, att, q, ck, cv);
        }
        putLatest(p0, k, v, T);
    }

    /** Stores T tokens at {@code p0 ..}: the last {@code capacity} of them when they are more than the ring holds. */
    private void putLatest(int p0, DeviceBuffer k, DeviceBuffer v, int T) {
        int keep = Math.min(T, capacity);
        put(p0 + T - keep, k, v, T - keep, keep);
    }

    @Override
    public void close() {
        keys.close();
        values.close();
    }
}
