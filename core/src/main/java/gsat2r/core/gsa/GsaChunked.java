package gsat2r.core.gsa;

import java.util.Arrays;

/**
 * GSA in chunked form, the training path: the sequence is cut into chunks of C tokens; inside a
 * chunk every token reads the state that entered the chunk (decayed by {@code exp(G_t)}) plus
 * the chunk's own earlier tokens (decayed by {@code exp(G_t − G_j)}, see {@link ChunkDecays});
 * only the state at chunk borders is materialised. Same math as {@link GsaRecurrent}, other
 * summation order; arithmetic is fp32 except the cumulative log-gates and the gate gradient's
 * running sums (float64, see docs/gsa-math.md).
 *
 * <p>Per chunk starting at t0, for a kv head with entering state Hk⁰, Hv⁰ and a query head h of
 * its group, tokens t, j counted from t0, {@code E_t = exp(G_t)}, {@code D_tj = exp(G_t − G_j)}:
 *
 * <pre>
 *   ok_t = E_t ⊙ (q̃_tᵀ Hk⁰) + Σ_{j≤t} (q̃_t·k_j) (s_j ⊙ D_tj)              q̃ = scale·q
 *   p_t  = softmax(ok_t)
 *   o_t  = Hv⁰ᵀ (p_t ⊙ E_t) + Σ_{j≤t} ⟨p_t, s_j ⊙ D_tj⟩ v_j
 *   Hk at the chunk end = Hk⁰ ⊙ E_last[None,:] + Σ_j k_j ⊗ (s_j ⊙ D_last,j)
 *   Hv at the chunk end = Hv⁰ ⊙ E_last[:,None] + Σ_j (s_j ⊙ D_last,j) ⊗ v_j
 * </pre>
 *
 * The backward pass ({@link #backward}) is derived in docs/gsa-math.md. Work is split over
 * (sequence, kv head) tasks, which run on the common fork-join pool.
 */
public final class GsaChunked {
    private GsaChunked() {}

    /** fla's chunk size, and the one the GPU kernels use. */
    public static final int DEFAULT_CHUNK = 64;

    /**
     * The result of {@link #forward}: the output, the final state, and what {@link #backward}
     * needs (the inputs, the state entering every chunk, the slot scores ok and p).
     */
    public static final class Forward {
        private final GsaInputs inputs;
        private final int chunkSize;
        private final float[] o;
        private final GsaState finalState;
        final float[] ok, p;
        /** State entering every chunk: {@code [B,Hkv,NC,K,M]} and {@code [B,Hkv,NC,M,V]}. */
        final float[] chunkHk, chunkHv;

        private Forward(GsaInputs inputs, int chunkSize, float[] o, GsaState finalState, float[] ok, float[] p,
                        float[] chunkHk, float[] chunkHv) {
            this.inputs = inputs;
            this.chunkSize = chunkSize;
            this.o = o;
            this.finalState = finalState;
            this.ok = ok;
            this.p = p;
            this.chunkHk = chunkHk;
            this.chunkHv = chunkHv;
        }

        public GsaInputs inputs() {
            return inputs;
        }

        public int chunkSize() {
            return chunkSize;
        }

        /** {@code o [B,T,H,V]}. */
        public float[] o() {
            return o;
        }

        /** The state after the last token (a new object; the initial state is never modified). */
        public GsaState finalState() {
            return finalState;
        }

        /** The slot read weights {@code p = softmax(ok)}, {@code [B,T,H,M]} (for diagnostics; do not modify). */
        public float[] p() {
            return p;
        }

        int chunks() {
            return Math.ceilDiv(inputs.shape().seqLen(), chunkSize);
        }
    }

    /** {@link #forward(GsaInputs, GsaState, int)} with chunks of {@link #DEFAULT_CHUNK} tokens. */
    public static Forward forward(GsaInputs in, GsaState initial) {
        return forward(in, initial, DEFAULT_CHUNK);
    }

    /**
     * Runs GSA over the T tokens of {@code in} from {@code initial} (null: zeros; never modified)
     * in chunks of {@code chunkSize} tokens (the last one may be shorter).
     */
    public static Forward forward(GsaInputs in, GsaState initial, int chunkSize) {
        GsaShape sh = in.shape();
        if (chunkSize < 1) throw new IllegalArgumentException("GSA chunk size must be positive, got " + chunkSize);
        if (initial != null) initial.requireFits(sh, "initial state");
        int T = sh.seqLen(), K = sh.keyDim(), V = sh.valueDim(), M = sh.slots(), G = sh.group();
        int C = Math.min(chunkSize, T), chunks = Math.ceilDiv(T, C);
        float scale = in.scale();
        float[] q = in.q(), k = in.k(), v = in.v(), s = in.s();
        float[] o = new float[sh.oSize()], ok = new float[sh.scoreSize()], p = new float[sh.scoreSize()];
        GsaState state = initial == null ? GsaState.zeros(sh) : initial.copy();
        float[] chunkHk = new float[sh.batch() * sh.kvHeads() * chunks * K * M];
        float[] chunkHv = new float[sh.batch() * sh.kvHeads() * chunks * M * V];

        HeadTasks.run(sh, task -> {
            int b = task / sh.kvHeads(), kv = task % sh.kvHeads();
            float[] hk = state.hk(), hv = state.hv();
            int hkOff = state.hkOffset(b, kv), hvOff = state.hvOffset(b, kv);
            ChunkDecays dec = new ChunkDecays(C, M);
            float[] qs = new float[K], weighted = new float[M];
            for (int n = 0; n < chunks; n++) {
                int t0 = n * C, len = Math.min(C, T - t0);
                System.arraycopy(hk, hkOff, chunkHk, (task * chunks + n) * K * M, K * M);
                System.arraycopy(hv, hvOff, chunkHv, (task * chunks + n) * M * V, M * V);
                dec.compute(sh, in.g(), b, kv, t0, len);

                for (int h = kv * G; h < (kv + 1) * G; h++) {
                    for (int t = 0; t < len; t++) {
                        int qOff = sh.q(b, t0 + t, h), pOff = sh.score(b, t0 + t, h), oOff = sh.o(b, t0 + t, h);
                        int e = dec.fromStart(t);
                        for (int a = 0; a < K; a++) qs[a] = scale * q[qOff + a];
                        // Pass 1. ok_t = E_t ⊙ (q̃_tᵀ Hk⁰) + Σ_{j≤t} (q̃_t·k_j)(s_j ⊙ D_tj)
                        Arrays.fill(weighted, 0f);
                        for (int a = 0; a < K; a++) {
                            float qa = qs[a];
                            int row = hkOff + a * M;
                            for (int m = 0; m < M; m++) weighted[m] += qa * hk[row + m];
                        }
                        for (int m = 0; m < M; m++) ok[pOff + m] = dec.fromStart[e + m] * weighted[m];
                        for (int j = 0; j <= t; j++) {
                            int kOff = sh.k(b, t0 + j, kv), sOff = sh.slot(b, t0 + j, kv), d = dec.between(t, j);
                            float qk = dot(qs, 0, k, kOff, K);
                            for (int m = 0; m < M; m++) ok[pOff + m] += qk * s[sOff + m] * dec.between[d + m];
                        }
                        Softmax.forward(ok, pOff, p, pOff, M);
                        // Pass 2. o_t = Hv⁰ᵀ (p_t ⊙ E_t) + Σ_{j≤t} ⟨p_t, s_j ⊙ D_tj⟩ v_j
                        for (int m = 0; m < M; m++) {
                            float w = p[pOff + m] * dec.fromStart[e + m];
                            int row = hvOff + m * V;
                            for (int c = 0; c < V; c++) o[oOff + c] += w * hv[row + c];
                        }
                        for (int j = 0; j <= t; j++) {
                            int vOff = sh.v(b, t0 + j, kv), sOff = sh.slot(b, t0 + j, kv), d = dec.between(t, j);
                            float pj = 0f;
                            for (int m = 0; m < M; m++) pj += p[pOff + m] * s[sOff + m] * dec.between[d + m];
                            for (int c = 0; c < V; c++) o[oOff + c] += pj * v[vOff + c];
                        }
                    }
                }

                // Carry the state to the chunk's end.
                int last = len - 1, eLast = dec.fromStart(last);
                for (int a = 0; a < K; a++) {
                    int row = hkOff + a * M;
                    for (int m = 0; m < M; m++) hk[row + m] *= dec.fromStart[eLast + m];
                }
                for (int m = 0; m < M; m++) {
                    float decay = dec.fromStart[eLast + m];
                    int row = hvOff + m * V;
                    for (int c = 0; c < V; c++) hv[row + c] *= decay;
                }
                for (int j = 0; j < len; j++) {
                    int kOff = sh.k(b, t0 + j, kv), vOff = sh.v(b, t0 + j, kv), sOff = sh.slot(b, t0 + j, kv);
                    int d = dec.between(last, j);
                    for (int m = 0; m < M; m++) weighted[m] = s[sOff + m] * dec.between[d + m];
                    for (int a = 0; a < K; a++) {
                        float ka = k[kOff + a];
                        int row = hkOff + a * M;
                        for (int m = 0; m < M; m++) hk[row + m] += ka * weighted[m];
                    }
                    for (int m = 0; m < M; m++) {
                        float w = weighted[m];
                        int row = hvOff + m * V;
                        for (int c = 0; c < V; c++) hv[row + c] += w * v[vOff + c];
                    }
                }
            }
        });
        return new Forward(in, C, o, state, ok, p, chunkHk, chunkHv);
    }

    /**
     * Gradients of a loss L given {@code dO = dL/do [B,T,H,V]} and {@code dFinal = dL/d(final
     * state)} (null: L does not read the final state). {@link GsaGradients#dInitial()} is dL/d(initial
     * state).
     */
    public static GsaGradients backward(Forward fwd, float[] dO, GsaState dFinal) {
        GsaInputs in = fwd.inputs();
        GsaShape sh = in.shape();
        GsaInputs.requireLength("dO", dO, sh.oSize(), "[B,T,H,V]", sh);
        if (dFinal != null) dFinal.requireFits(sh, "final-state gradient");
        int T = sh.seqLen(), K = sh.keyDim(), V = sh.valueDim(), M = sh.slots(), G = sh.group();
        int C = fwd.chunkSize(), chunks = fwd.chunks();
        float scale = in.scale();
        float[] q = in.q(), k = in.k(), v = in.v(), s = in.s();
        float[] ok = fwd.ok, p = fwd.p;
        float[] dq = new float[sh.qSize()], dk = new float[sh.kSize()], dv = new float[sh.vSize()];
        float[] ds = new float[sh.slotSize()], dg = new float[sh.slotSize()];
        GsaState dInitial = GsaState.zeros(sh);

        HeadTasks.run(sh, task -> {
            int b = task / sh.kvHeads(), kv = task % sh.kvHeads();
            ChunkDecays dec = new ChunkDecays(C, M);
            // dL/d(state at the end of the current chunk), carried from the last chunk to the first.
            float[] dHk = new float[K * M], dHv = new float[M * V];
            if (dFinal != null) {
                System.arraycopy(dFinal.hk(), dFinal.hkOffset(b, kv), dHk, 0, K * M);
                System.arraycopy(dFinal.hv(), dFinal.hvOffset(b, kv), dHv, 0, M * V);
            }
            // dL/d(state entering the current chunk), through the chunk's own reads.
            float[] dHk0 = new float[K * M], dHv0 = new float[M * V];
            // Gradients of the chunk's kv-head inputs, summed over the group; dG = dL/dG_t.
            float[] dkC = new float[C * K], dvC = new float[C * V], dsC = new float[C * M];
            double[] dG = new double[C * M];
            float[] qs = new float[K], dqs = new float[K], dp = new float[M], dok = new float[M];
            float[] weighted = new float[M], reduced = new float[M];

            for (int n = chunks - 1; n >= 0; n--) {
                int t0 = n * C, len = Math.min(C, T - t0), last = len - 1;
                dec.compute(sh, in.g(), b, kv, t0, len);
                int hk0 = (task * chunks + n) * K * M, hv0 = (task * chunks + n) * M * V;
                float[] hkEnd, hvEnd;
                int hkEndOff, hvEndOff;
                if (n + 1 < chunks) {
                    hkEnd = fwd.chunkHk;
                    hkEndOff = hk0 + K * M;
                    hvEnd = fwd.chunkHv;
                    hvEndOff = hv0 + M * V;
                } else {
                    hkEnd = fwd.finalState().hk();
                    hkEndOff = fwd.finalState().hkOffset(b, kv);
                    hvEnd = fwd.finalState().hv();
                    hvEndOff = fwd.finalState().hvOffset(b, kv);
                }
                Arrays.fill(dHk0, 0f);
                Arrays.fill(dHv0, 0f);
                Arrays.fill(dkC, 0f);
                Arrays.fill(dvC, 0f);
                Arrays.fill(dsC, 0f);
                Arrays.fill(dG, 0.0);

                for (int h = kv * G; h < (kv + 1) * G; h++) {
                    for (int t = 0; t < len; t++) {
                        int qOff = sh.q(b, t0 + t, h), pOff = sh.score(b, t0 + t, h), oOff = sh.o(b, t0 + t, h);
                        int e = dec.fromStart(t);
                        // Pass 2, o_t = Hv⁰ᵀ (p_t ⊙ E_t) + Σ_{j≤t} ⟨p_t, s_j ⊙ D_tj⟩ v_j:
                        // dp_t, and the contributions of token t's read to dHv⁰, dv_j, ds_j.
                        for (int m = 0; m < M; m++) {
                            float em = dec.fromStart[e + m];
                            dp[m] = em * dot(fwd.chunkHv, hv0 + m * V, dO, oOff, V);
                            float w = p[pOff + m] * em;
                            for (int c = 0; c < V; c++) dHv0[m * V + c] += w * dO[oOff + c];
                        }
                        for (int j = 0; j <= t; j++) {
                            int vOff = sh.v(b, t0 + j, kv), sOff = sh.slot(b, t0 + j, kv), d = dec.between(t, j);
                            float dpj = dot(dO, oOff, v, vOff, V);    // dL/d⟨p_t, s_j ⊙ D_tj⟩
                            float pj = 0f;                            // ⟨p_t, s_j ⊙ D_tj⟩
                            for (int m = 0; m < M; m++) {
                                float decay = dec.between[d + m];
                                float sd = s[sOff + m] * decay;
                                pj += p[pOff + m] * sd;
                                dp[m] += dpj * sd;
                                dsC[j * M + m] += dpj * p[pOff + m] * decay;
                            }
                            for (int c = 0; c < V; c++) dvC[j * V + c] += pj * dO[oOff + c];
                        }
                        // p_t = softmax(ok_t); both read-side gate terms of dG_t (see docs/gsa-math.md).
                        Softmax.backward(p, pOff, dp, 0, dok, 0, M);
                        for (int m = 0; m < M; m++) {
                            dG[t * M + m] += (double) p[pOff + m] * dp[m] + (double) ok[pOff + m] * dok[m];
                        }
                        // Pass 1, ok_t = E_t ⊙ (q̃_tᵀ Hk⁰) + Σ_{j≤t} (q̃_t·k_j)(s_j ⊙ D_tj):
                        // dq̃_t, and the contributions of token t's read to dHk⁰, dk_j, ds_j.
                        for (int a = 0; a < K; a++) qs[a] = scale * q[qOff + a];
                        for (int m = 0; m < M; m++) weighted[m] = dok[m] * dec.fromStart[e + m];
                        for (int a = 0; a < K; a++) {
                            dqs[a] = dot(fwd.chunkHk, hk0 + a * M, weighted, 0, M);
                            float qa = qs[a];
                            for (int m = 0; m < M; m++) dHk0[a * M + m] += qa * weighted[m];
                        }
                        for (int j = 0; j <= t; j++) {
                            int kOff = sh.k(b, t0 + j, kv), sOff = sh.slot(b, t0 + j, kv), d = dec.between(t, j);
                            float qk = dot(qs, 0, k, kOff, K);         // q̃_t·k_j
                            float dqk = 0f;                             // dL/d(q̃_t·k_j)
                            for (int m = 0; m < M; m++) {
                                float decay = dec.between[d + m];
                                dqk += dok[m] * s[sOff + m] * decay;
                                dsC[j * M + m] += qk * dok[m] * decay;
                            }
                            for (int a = 0; a < K; a++) {
                                dqs[a] += dqk * k[kOff + a];
                                dkC[j * K + a] += dqk * qs[a];
                            }
                        }
                        for (int a = 0; a < K; a++) dq[qOff + a] = scale * dqs[a];
                    }
                }

                // What each token wrote into the state that leaves the chunk:
                // Hk_end ∋ k_j ⊗ (s_j ⊙ D_last,j),  Hv_end ∋ (s_j ⊙ D_last,j) ⊗ v_j.
                for (int j = 0; j < len; j++) {
                    int kOff = sh.k(b, t0 + j, kv), vOff = sh.v(b, t0 + j, kv), sOff = sh.slot(b, t0 + j, kv);
                    int d = dec.between(last, j);
                    for (int m = 0; m < M; m++) weighted[m] = s[sOff + m] * dec.between[d + m];
                    Arrays.fill(reduced, 0f);
                    for (int a = 0; a < K; a++) {
                        dkC[j * K + a] += dot(dHk, a * M, weighted, 0, M);
                        float ka = k[kOff + a];
                        for (int m = 0; m < M; m++) reduced[m] += dHk[a * M + m] * ka;
                    }
                    for (int m = 0; m < M; m++) {
                        float w = weighted[m];
                        for (int c = 0; c < V; c++) dvC[j * V + c] += w * dHv[m * V + c];
                        reduced[m] += dot(dHv, m * V, v, vOff, V);
                        dsC[j * M + m] += dec.between[d + m] * reduced[m];
                    }
                }

                // Gates: dG_t −= s_t ⊙ ds_t; dG_last += Σ_a Hk_end ⊙ dHk_end + Σ_c Hv_end ⊙ dHv_end;
                // dg_t = Σ_{u ≥ t in the chunk} dG_u.
                for (int m = 0; m < M; m++) {
                    double endTerm = 0.0;
                    for (int a = 0; a < K; a++) endTerm += (double) hkEnd[hkEndOff + a * M + m] * dHk[a * M + m];
                    for (int c = 0; c < V; c++) endTerm += (double) hvEnd[hvEndOff + m * V + c] * dHv[m * V + c];
                    double suffix = endTerm;
                    for (int t = last; t >= 0; t--) {
                        int sOff = sh.slot(b, t0 + t, kv);
                        suffix += dG[t * M + m] - (double) s[sOff + m] * dsC[t * M + m];
                        dg[sOff + m] = (float) suffix;
                    }
                }
                for (int t = 0; t < len; t++) {
                    System.arraycopy(dkC, t * K, dk, sh.k(b, t0 + t, kv), K);
                    System.arraycopy(dvC, t * V, dv, sh.v(b, t0 + t, kv), V);
                    System.arraycopy(dsC, t * M, ds, sh.slot(b, t0 + t, kv), M);
                }

                // Carry dL/d(state) to the chunk's start: Hk_end = Hk⁰ ⊙ E_last[None,:] + ..., same for Hv.
                int eLast = dec.fromStart(last);
                for (int a = 0; a < K; a++) {
                    for (int m = 0; m < M; m++) {
                        dHk[a * M + m] = dHk[a * M + m] * dec.fromStart[eLast + m] + dHk0[a * M + m];
                    }
                }
                for (int m = 0; m < M; m++) {
                    float decay = dec.fromStart[eLast + m];
                    for (int c = 0; c < V; c++) dHv[m * V + c] = dHv[m * V + c] * decay + dHv0[m * V + c];
                }
            }
            System.arraycopy(dHk, 0, dInitial.hk(), dInitial.hkOffset(b, kv), K * M);
            System.arraycopy(dHv, 0, dInitial.hv(), dInitial.hvOffset(b, kv), M * V);
        });
        return new GsaGradients(dq, dk, dv, ds, dg, dInitial);
    }

    private static float dot(float[] x, int xOff, float[] y, int yOff, int n) {
        float acc = 0f;
        for (int i = 0; i < n; i++) acc += x[xOff + i] * y[yOff + i];
        return acc;
    }
}
