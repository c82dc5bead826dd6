package gsat2r.converter;

import gsat2r.core.T2rException;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.Floats;

import java.lang.foreign.MemorySegment;
import java.util.Locale;
import java.util.Random;

/**
 * How a new GSA layer's gate projection {@code f_proj [Hkv·M, d]} starts. Both strategies stream the
 * tensor row by row (into a tensor sink, by the converter): no whole tensor is held in the heap.
 *
 * <ul>
 * <li>{@link #RANDOM}: every entry N(0, 0.02²), as the GSA paper initializes new parameters; the draws
 *     are {@code java.util.Random(seed).nextGaussian()} (an algorithm fixed by the Java specification)
 *     taken in order over the GSA layers, rows and columns, so a seed gives the same student on any JDK.</li>
 * <li>{@link #KEY_POOL}: gates pooled from the teacher's key projection, in the spirit of Liger (Lan et
 *     al. 2025, which builds gates by pooling the key projection instead of learning a new one). For kv
 *     head κ and slot m, row {@code κ·M + m} of f_proj is the mean of the rows {@code κ·dk + r} of the
 *     teacher's {@code W_k} for r in the adaptive-average-pooling window
 *     {@code [floor(m·dk/M), ceil((m+1)·dk/M))}: the gate logit of slot m is then exactly the mean of the
 *     teacher's (pre-RoPE) key logits over a contiguous band of head dimensions, so at step 0 the
 *     forgetting of each slot follows what the teacher's keys respond to. With M > dk the windows hold
 *     one row each and rows repeat; identical gate rows would keep their slots identical for ever (equal
 *     gates give equal slot contents, equal reads and equal gradients), so in that case only, seeded
 *     N(0, 0.002²) noise (a tenth of the random init's scale) is added to every entry to break the tie.</li>
 * </ul>
 */
public enum GateInit {
    RANDOM("random"), KEY_POOL("key-pool");

    /** Standard deviation of the random init (the paper's 0.02). */
    public static final double RANDOM_STD = 0.02;
    /** Standard deviation of the symmetry-breaking noise of key-pool when M > dk. */
    public static final double KEY_POOL_NOISE_STD = 0.002;

    private final String cliName;

    GateInit(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    public static GateInit parse(String s) {
        for (GateInit g : values()) if (g.cliName.equals(s.toLowerCase(Locale.ROOT))) return g;
        throw new T2rException("--gate-init must be random or key-pool, got '" + s + "'");
    }

    /**
     * The teacher's key projection of one layer, read row by row from the mapped checkpoint:
     * {@code [kvHeads·headDim, hidden]} in {@code dtype}.
     */
    public record KeyProjection(MemorySegment bytes, DType dtype, int kvHeads, int headDim, int hidden) {
        void row(int r, float[] dst) {
            long rowBytes = (long) hidden * dtype.byteSize();
            Floats.decode(dtype, bytes, r * rowBytes, dst, 0, hidden);
        }
    }

    /**
     * Streams {@code f_proj [kvHeads·slots, hidden]} of one layer, row after row, into {@code rows} (a tensor
     * sink's {@code putFloats}, or an array's next rows; the row array is reused, so the consumer copies it);
     * {@code rnd} is the conversion's generator (shared over layers); {@code keys} is needed by {@link #KEY_POOL} only.
     */
    public void write(java.util.function.Consumer<float[]> rows, int kvHeads, int slots, int hidden, KeyProjection keys, Random rnd) {
        float[] row = new float[hidden];
        switch (this) {
            case RANDOM -> {
                for (int r = 0; r < kvHeads * slots; r++) {
                    for (int i = 0; i < hidden; i++) row[i] = (float) (rnd.nextGaussian() * RANDOM_STD);
                    rows.accept(row);
                }
            }
            case KEY_POOL -> {
                int dk = keys.headDim();
                boolean repeats = slots > dk;
                float[] keyRow = new float[hidden];
                double[] acc = new double[hidden];
                for (int kv = 0; kv < kvHeads; kv++) {
                    for (int m = 0; m < slots; m++) {
                        int lo = (int) Math.floorDiv((long) m * dk, slots);
                        int hi = (int) -Math.floorDiv(-(long) (m + 1) * dk, slots);
                        java.util.Arrays.fill(acc, 0);
                        for (int r = lo; r < hi; r++) {
                            keys.row(kv * dk + r, keyRow);
                            for (int i = 0; i < hidden; i++) acc[i] += keyRow[i];
                        }
                        for (int i = 0; i < hidden; i++) {
                            double v = acc[i] / (hi - lo);
                            if (repeats) v += rnd.nextGaussian() * KEY_POOL_NOISE_STD;
                            row[i] = (float) v;
                        }
                        rows.accept(row);
                    }
                }
            }
        }
    }
}
