package gsat2r.core.gsa;

/**
 * The decay factors inside one chunk of one (sequence, kv head), from the cumulative log-gates
 * {@code G_t = Σ_{i=t0..t} g_i} (t0 the chunk's first token, t counted from it):
 *
 * <ul>
 *   <li>{@code fromStart(t)[m] = exp(G_t[m])}: how much of the state entering the chunk survives
 *       to token t;</li>
 *   <li>{@code between(t, j)[m] = exp(G_t[m] − G_j[m])} for {@code j ≤ t}: how much of what token j
 *       wrote survives to token t.</li>
 * </ul>
 *
 * Both are exp of a number ≤ 0 when g ≤ 0, so nothing overflows however strong the gates are;
 * the tempting factorisation {@code exp(G_t)·exp(−G_j)} would overflow fp32 once G reaches −88,
 * which a 64-token chunk of g = −1.4 does. G is summed in float64 so that the difference
 * {@code G_t − G_j} of two large cumulative sums carries no cancellation error: in fp32 it would
 * be off by up to ulp(|G_t|), a relative error of 1e-5 on factors near 1 once |G| ≈ 100.
 */
final class ChunkDecays {
    final int capacity;
    final int slots;
    int len;
    private final double[] logDecay;
    /** {@code [t][m]}, stride M. */
    final float[] fromStart;
    /** {@code [t][j][m]}, j ≤ t, offset {@link #between(int, int)}. */
    final float[] between;

    ChunkDecays(int capacity, int slots) {
        this.capacity = capacity;
        this.slots = slots;
        this.logDecay = new double[capacity * slots];
        this.fromStart = new float[capacity * slots];
        this.between = new float[capacity * capacity * slots];
    }

    /** Fills the factors for tokens {@code t0 .. t0+len-1} of sequence b, kv head kv. */
    void compute(GsaShape sh, float[] g, int b, int kv, int t0, int len) {
        this.len = len;
        int M = slots;
        for (int t = 0; t < len; t++) {
            int gOff = sh.slot(b, t0 + t, kv);
            for (int m = 0; m < M; m++) {
                double previous = t == 0 ? 0.0 : logDecay[(t - 1) * M + m];
                logDecay[t * M + m] = previous + g[gOff + m];
            }
        }
        for (int t = 0; t < len; t++) {
            for (int m = 0; m < M; m++) fromStart[t * M + m] = (float) Math.exp(logDecay[t * M + m]);
            for (int j = 0; j <= t; j++) {
                int d = between(t, j);
                for (int m = 0; m < M; m++) {
                    between[d + m] = (float) Math.exp(logDecay[t * M + m] - logDecay[j * M + m]);
                }
            }
        }
    }

    /** Offset in {@link #between} of the factors from token j to token t (chunk-relative, j ≤ t). */
    int between(int t, int j) {
        return (t * capacity + j) * slots;
    }

    /** Offset in {@link #fromStart} of token t (chunk-relative). */
    int fromStart(int t) {
        return t * slots;
    }
}
