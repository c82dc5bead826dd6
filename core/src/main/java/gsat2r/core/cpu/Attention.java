package gsat2r.core.cpu;

/**
 * Causal softmax attention with grouped key/value heads, as transformers' Llama and Mistral compute it:
 * {@code out_i = Σ_j softmax_j(scale · q_i·k_j) v_j} over the keys {@code j} that query {@code i} sees,
 * {@code 0 ≤ i − j < window} (every {@code j ≤ i} when {@code window} is 0, i.e. full causal attention),
 * where query head {@code h} reads key/value head {@code h / (heads / kvHeads)}.
 *
 * <p>Layouts (row-major, one row per token): {@code q, out [T, heads·headDim]},
 * {@code k, v [T, kvHeads·headDim]}, log-sum-exp {@code lse [T, heads]}. The forward keeps only the
 * log-sum-exp of each query's scaled scores; the backward recomputes the probabilities from it (as
 * FlashAttention does), so training memory grows with T, not T².
 *
 * <p>Vectorization: keys are copied per kv head into transposed rows ({@code kT[d][j]}) so that the
 * scores of one query are accumulated in the axpy form {@code s[j] += q_d · kT[d][j]}, and values into
 * rows of their own so that {@code o[d] += p_j · v_j[d]} indexes both arrays alike (see {@link Matmul} for
 * why C2 needs that). Each score is the same sum over d (sequential, in pairs) as
 * {@link #decode}'s, so token-by-token decoding reproduces the forward exactly.
 */
public final class Attention {
    private Attention() {}

    /** {@code head_dim ** -0.5}, the scale transformers uses, rounded to fp32. */
    public static float defaultScale(int headDim) {
        return (float) Math.pow(headDim, -0.5);
    }

    /**
     * Forward over a whole sequence of {@code T} tokens at positions {@code 0..T-1}. {@code lse} may be
     * null (inference); otherwise it receives the log-sum-exp of each query's scaled scores.
     */
    public static void forward(float[] out, int outOff, float[] lse, int lseOff,
                               float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
                               int T, int heads, int kvHeads, int headDim, int window, float scale) {
        checkHeads(heads, kvHeads);
        int group = heads / kvHeads;
        int qw = heads * headDim, kw = kvHeads * headDim;
        float[][][] kT = new float[kvHeads][][];
        float[][][] vRows = new float[kvHeads][][];
        Parallel.forRange(kvHeads, 1, (g0, g1) -> {
            for (int g = g0; g < g1; g++) {
                kT[g] = transposedHead(k, kOff, T, kw, g * headDim, headDim);
                vRows[g] = headRows(v, vOff, T, kw, g * headDim, headDim);
            }
        });
        // Tasks: (head, block of 16 queries); later queries see more keys, so blocks interleave costs.
        int blocks = (T + 15) / 16;
        Parallel.forRange(heads * blocks, 1, (t0, t1) -> {
            float[] s = new float[T];
            float[] acc = new float[headDim];
            for (int task = t0; task < t1; task++) {
                int h = task / blocks, b = task % blocks, g = h / group;
                for (int i = b * 16; i < Math.min(T, b * 16 + 16); i++) {
                    int lo = firstKey(i, window);
                    int qo = qOff + i * qw + h * headDim;
                    scores(s, q, qo, kT[g], lo, i, headDim, scale);
                    float l = softmaxInPlace(s, lo, i);
                    if (lse != null) lse[lseOff + i * heads + h] = l;
                    java.util.Arrays.fill(acc, 0f);
                    for (int j = lo; j <= i; j++) {
                        float p = s[j];
                        float[] vr = vRows[g][j];
                        for (int d = 0; d < headDim; d++) acc[d] += p * vr[d];
                    }
                    System.arraycopy(acc, 0, out, outOff + i * qw + h * headDim, headDim);
                }
            }
        });
    }

    /**
     * The attention probabilities {@link #forward} weighs the values with: {@code p[(h·T + i)·T + j]} for
     * query i of head h and key j (0 outside {@code [firstKey(i), i]}). For measuring what heads attend to;
     * the same scores and softmax as the forward.
     */
    public static float[] probabilities(float[] q, int qOff, float[] k, int kOff, int T, int heads, int kvHeads, int headDim,
                                        int window, float scale) {
        checkHeads(heads, kvHeads);
        int group = heads / kvHeads, qw = heads * headDim, kw = kvHeads * headDim;
        float[][][] kT = new float[kvHeads][][];                  // once per kv head, shared by its group of query heads
        for (int g = 0; g < kvHeads; g++) kT[g] = transposedHead(k, kOff, T, kw, g * headDim, headDim);
        float[] p = new float[heads * T * T];
        Parallel.forRange(heads, 1, (h0, h1) -> {
            float[] s = new float[T];
            for (int h = h0; h < h1; h++) {
                for (int i = 0; i < T; i++) {
                    int lo = firstKey(i, window);
                    scores(s, q, qOff + i * qw + h * headDim, kT[h / group], lo, i, headDim, scale);
                    softmaxInPlace(s, lo, i);
                    System.arraycopy(s, lo, p, (h * T + i) * T + lo, i - lo + 1);
                }
            }
        });
        return p;
    }

    /**
     * Gradients of {@link #forward} given {@code dout}, from its inputs and {@code lse}:
     * {@code dq += …}, {@code dk += …}, {@code dv += …} (accumulated, as every backward here). With
     * {@code p} the probabilities and {@code dp_j = dout_i·v_j}: {@code ds_j = p_j (dp_j − Σ_j' p_j' dp_j')},
     * {@code dq_i = scale Σ_j ds_j k_j}, {@code dk_j = scale Σ_i ds_j q_i}, {@code dv_j = Σ_i p_j dout_i}.
     * Sums over the query heads of a group are made in head order: results do not depend on threads.
     */
    public static void backward(float[] dq, int dqOff, float[] dk, int dkOff, float[] dv, int dvOff,
                                float[] dout, int doutOff, float[] q, int qOff, float[] k, int kOff,
                                float[] v, int vOff, float[] lse, int lseOff,
                                int T, int heads, int kvHeads, int headDim, int window, float scale) {
        checkHeads(heads, kvHeads);
        int group = heads / kvHeads;
        int qw = heads * headDim, kw = kvHeads * headDim;
        float[][][] kT = new float[kvHeads][][], kRows = new float[kvHeads][][], vT = new float[kvHeads][][];
        Parallel.forRange(kvHeads, 1, (g0, g1) -> {
            for (int g = g0; g < g1; g++) {
                kT[g] = transposedHead(k, kOff, T, kw, g * headDim, headDim);
                kRows[g] = headRows(k, kOff, T, kw, g * headDim, headDim);
                vT[g] = transposedHead(v, vOff, T, kw, g * headDim, headDim);
            }
        });
        // Per query head: private dk, dv rows (summed into the kv head afterwards, in head order).
        float[][][] dkHead = new float[heads][][], dvHead = new float[heads][][];
        Parallel.forRange(heads, 1, (h0, h1) -> {
            float[] p = new float[T], dp = new float[T];
            float[] qi = new float[headDim], gi = new float[headDim], dqi = new float[headDim];
            for (int h = h0; h < h1; h++) {
                int g = h / group;
                float[][] dkr = new float[T][headDim], dvr = new float[T][headDim];
                for (int i = 0; i < T; i++) {
                    int lo = firstKey(i, window);
                    int qo = qOff + i * qw + h * headDim, go = doutOff + i * qw + h * headDim;
                    System.arraycopy(q, qo, qi, 0, headDim);
                    System.arraycopy(dout, go, gi, 0, headDim);
                    scores(p, q, qo, kT[g], lo, i, headDim, scale);
                    float l = lse[lseOff + i * heads + h];
                    for (int j = lo; j <= i; j++) p[j] = (float) Math.exp(p[j] - l);
                    java.util.Arrays.fill(dp, lo, i + 1, 0f);
                    float[][] vTg = vT[g];
                    for (int d = 0; d < headDim; d++) {
                        float gd = gi[d];
                        float[] row = vTg[d];
                        for (int j = lo; j <= i; j++) dp[j] += gd * row[j];
                    }
                    double pdp = 0; // Σ_j p_j dp_j: the softmax Jacobian's projection, summed in double
                    for (int j = lo; j <= i; j++) pdp += (double) p[j] * dp[j];
                    float mean = (float) pdp;
                    java.util.Arrays.fill(dqi, 0f);
                    for (int j = lo; j <= i; j++) {
                        float ds = p[j] * (dp[j] - mean) * scale;
                        float pj = p[j];
                        float[] kr = kRows[g][j], dkj = dkr[j], dvj = dvr[j];
                        for (int d = 0; d < headDim; d++) {
                            dqi[d] += ds * kr[d];
                            dkj[d] += ds * qi[d];
                            dvj[d] += pj * gi[d];
                        }
                    }
                    int dqo = dqOff + i * qw + h * headDim;
                    for (int d = 0; d < headDim; d++) dq[dqo + d] += dqi[d];
                }
                dkHead[h] = dkr;
                dvHead[h] = dvr;
            }
        });
        Parallel.forRange(T, 16, (j0, j1) -> {
            for (int j = j0; j < j1; j++) {
                for (int h = 0; h < heads; h++) {
                    int o = j * kw + (h / group) * headDim;
                    float[] a = dkHead[h][j], b = dvHead[h][j];
                    for (int d = 0; d < headDim; d++) {
                        dk[dkOff + o + d] += a[d];
                        dv[dvOff + o + d] += b[d];
                    }
                }
            }
        });
    }

    /**
     * One decoding step: the query at {@code position} ({@code q [heads·headDim]}) against a KV cache of
     * {@code capacity} rows of {@code kvHeads·headDim}, where position {@code p} lives in row
     * {@code p % capacity} (a ring buffer when a sliding window bounds what is kept; capacity must cover
     * the keys the query sees). Same arithmetic as {@link #forward}, so logits match it exactly.
     */
    public static void decode(float[] out, int outOff, float[] q, int qOff, float[] kCache, float[] vCache,
                              int capacity, int position, int heads, int kvHeads, int headDim, int window,
                              float scale) {
        checkHeads(heads, kvHeads);
        int group = heads / kvHeads, kw = kvHeads * headDim;
        int lo = firstKey(position, window);
        if (position - lo + 1 > capacity) {
            throw new IllegalArgumentException("KV cache of " + capacity + " rows cannot hold "
                    + (position - lo + 1) + " keys");
        }
        float[] s = new float[position + 1];
        float[] acc = new float[headDim];
        for (int h = 0; h < heads; h++) {
            int g = h / group, qo = qOff + h * headDim;
            for (int j = lo; j <= position; j++) {
                int ko = (j % capacity) * kw + g * headDim;
                float dot = 0f;
                int pairs = headDim / 2;
                for (int pair = 0; pair < pairs; pair++) {
                    int d = 2 * pair;
                    dot += q[qo + d] * kCache[ko + d] + q[qo + d + 1] * kCache[ko + d + 1];
                }
                if ((headDim & 1) != 0) dot += q[qo + headDim - 1] * kCache[ko + headDim - 1];
                s[j] = dot * scale;
            }
            softmaxInPlace(s, lo, position);
            java.util.Arrays.fill(acc, 0f);
            for (int j = lo; j <= position; j++) {
                float p = s[j];
                int vo = (j % capacity) * kw + g * headDim;
                for (int d = 0; d < headDim; d++) acc[d] += p * vCache[vo + d];
            }
            System.arraycopy(acc, 0, out, outOff + h * headDim, headDim);
        }
    }

    /** The first key position that query {@code i} sees. */
    public static int firstKey(int i, int window) {
        return window > 0 ? Math.max(0, i - window + 1) : 0;
    }

    /**
     * {@code s[j] = scale · Σ_d q[qo+d] kT[d][j]} for {@code lo ≤ j ≤ i}, the sum over d sequential in
     * pairs ({@code s + (q_d k_d + q_d+1 k_d+1)}, as {@link #decode} sums): pairs halve the passes over s.
     */
    private static void scores(float[] s, float[] q, int qo, float[][] kT, int lo, int i, int headDim, float scale) {
        java.util.Arrays.fill(s, lo, i + 1, 0f);
        int pairs = headDim / 2;
        for (int pair = 0; pair < pairs; pair++) {
            int d = 2 * pair;
            float qd = q[qo + d], qe = q[qo + d + 1];
            float[] row = kT[d], next = kT[d + 1];
            for (int j = lo; j <= i; j++) s[j] += qd * row[j] + qe * next[j];
        }
        if ((headDim & 1) != 0) {
            float qd = q[qo + headDim - 1];
            float[] row = kT[headDim - 1];
            for (int j = lo; j <= i; j++) s[j] += qd * row[j];
        }
        for (int j = lo; j <= i; j++) s[j] *= scale;
    }

    /**
     * Replaces {@code s[lo..hi]} by its softmax (max subtracted, sum in double) and returns the
     * log-sum-exp {@code max + log Σ exp(s − max)}.
     */
    static float softmaxInPlace(float[] s, int lo, int hi) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = lo; j <= hi; j++) max = Math.max(max, s[j]);
        double sum = 0;
        for (int j = lo; j <= hi; j++) {
            float e = (float) Math.exp(s[j] - max);
            s[j] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (int j = lo; j <= hi; j++) s[j] *= inv;
        return (float) (max + Math.log(sum));
    }

    /** Head columns {@code [c0, c0+headDim)} of a {@code [T, width]} matrix, transposed to {@code [headDim][T]}. */
    private static float[][] transposedHead(float[] x, int off, int T, int width, int c0, int headDim) {
        float[][] t = new float[headDim][T];
        for (int j = 0; j < T; j++) {
            int o = off + j * width + c0;
            for (int d = 0; d < headDim; d++) t[d][j] = x[o + d];
        }
        return t;
    }

    /** Head columns {@code [c0, c0+headDim)} of a {@code [T, width]} matrix as T separate rows. */
    private static float[][] headRows(float[] x, int off, int T, int width, int c0, int headDim) {
        float[][] r = new float[T][headDim];
        for (int j = 0; j < T; j++) System.arraycopy(x, off + j * width + c0, r[j], 0, headDim);
        return r;
    }

    private static void checkHeads(int heads, int kvHeads) {
        if (kvHeads <= 0 || heads % kvHeads != 0) {
            throw new IllegalArgumentException(heads + " query heads are not a multiple of " + kvHeads + " kv heads");
        }
    }
}
