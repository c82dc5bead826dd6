package gsat2r.core.gsa;

import java.util.Arrays;

/**
 * GSA as a recurrence, one token at a time: the decoding path, and (with {@link #backward}) plain
 * backpropagation through time, the second, independent path against which {@link GsaChunked} is
 * tested. Per kv head {@code κ}, per token t, with {@code ⊙} elementwise and decay {@code exp(g_t)}:
 *
 * <pre>
 *   Hk_t = Hk_{t-1} ⊙ exp(g_t)[None,:] + k_t ⊗ s_t            Hk ∈ R^{K×M}
 *   Hv_t = Hv_{t-1} ⊙ exp(g_t)[:,None] + s_t ⊗ v_t            Hv ∈ R^{M×V}
 * and per query head h of κ's group:
 *   ok_t = (scale·q_t)ᵀ Hk_t ∈ R^M,   p_t = softmax(ok_t),   o_t = p_tᵀ Hv_t ∈ R^V
 * </pre>
 *
 * This is fla's {@code naive_recurrent_gsa} with its two passes interleaved per token, which is
 * allowed because Hv does not depend on p. Arithmetic is fp32.
 */
public final class GsaRecurrent {
    private GsaRecurrent() {}

    /**
     * Runs the T tokens of {@code in} from {@code state}, which is updated in place to the state
     * after the last token (pass {@link GsaState#zeros} to start a sequence). Returns
     * {@code o [B,T,H,V]}.
     */
    public static float[] forward(GsaInputs in, GsaState state) {
        GsaShape sh = in.shape();
        state.requireFits(sh, "state");
        float[] o = new float[sh.oSize()];
        HeadTasks.run(sh, task -> {
            int b = task / sh.kvHeads(), kv = task % sh.kvHeads();
            Step step = new Step(in, state.hk(), state.hv());
            step.moveTo(state.hkOffset(b, kv), state.hvOffset(b, kv));
            for (int t = 0; t < sh.seqLen(); t++) {
                step.advance(b, t, kv);
                for (int h = kv * sh.group(); h < (kv + 1) * sh.group(); h++) {
                    step.read(b, t, h, o, sh.o(b, t, h));
                }
            }
        });
        return o;
    }

    /**
     * One decode step for a batch: {@code q [B,H,K]}, {@code k [B,Hkv,K]}, {@code v [B,Hkv,V]},
     * {@code s, g [B,Hkv,M]} (the token's rows); updates {@code state} and returns {@code o [B,H,V]}.
     */
    public static float[] step(GsaState state, int heads, float[] q, float[] k, float[] v, float[] s, float[] g,
                               float scale) {
        GsaShape sh = new GsaShape(state.batch(), 1, heads, state.kvHeads(), state.keyDim(), state.valueDim(),
                state.slots());
        return forward(new GsaInputs(sh, q, k, v, s, g, scale), state);
    }

    /**
     * One decode step for B sequences whose states are held apart (each {@code states[b]} has batch 1,
     * e.g. one per decoder of a serving batch): the same arithmetic as {@link #step(GsaState, int, float[],
     * float[], float[], float[], float[], float)} on their stacked state, without stacking it. Inputs are
     * the tokens' rows as there; every state is updated in place; returns {@code o [B,H,V]}.
     */
    public static float[] step(GsaState[] states, int heads, float[] q, float[] k, float[] v, float[] s, float[] g,
                               float scale) {
        if (states.length == 0) throw new IllegalArgumentException("no GSA states to step");
        GsaState first = states[0];
        GsaShape sh = new GsaShape(states.length, 1, heads, first.kvHeads(), first.keyDim(), first.valueDim(),
                first.slots());
        GsaShape one = new GsaShape(1, 1, heads, first.kvHeads(), first.keyDim(), first.valueDim(), first.slots());
        for (GsaState st : states) st.requireFits(one, "state");
        GsaInputs in = new GsaInputs(sh, q, k, v, s, g, scale);
        float[] o = new float[sh.oSize()];
        HeadTasks.run(sh, task -> {
            int b = task / sh.kvHeads(), kv = task % sh.kvHeads();
            GsaState st = states[b];
            Step step = new Step(in, st.hk(), st.hv());
            step.moveTo(st.hkOffset(0, kv), st.hvOffset(0, kv));
            step.advance(b, 0, kv);
            for (int h = kv * sh.group(); h < (kv + 1) * sh.group(); h++) step.read(b, 0, h, o, sh.o(b, 0, h));
        });
        return o;
    }

    /**
     * Backpropagation through time for the loss {@code L} whose gradients with respect to
     * {@code o} and the final state are {@code dO [B,T,H,V]} and {@code dFinal} (null: L does not
     * read the final state). {@code initial} is the state before the first token (null: zeros).
     * Keeps every intermediate state of a (sequence, kv head) while it runs:
     * {@code (T+1)·(K·M + M·V)} floats per running task.
     */
    public static GsaGradients backward(GsaInputs in, GsaState initial, float[] dO, GsaState dFinal) {
        GsaShape sh = in.shape();
        GsaInputs.requireLength("dO", dO, sh.oSize(), "[B,T,H,V]", sh);
        if (initial != null) initial.requireFits(sh, "initial state");
        if (dFinal != null) dFinal.requireFits(sh, "final-state gradient");
        int T = sh.seqLen(), K = sh.keyDim(), V = sh.valueDim(), M = sh.slots(), G = sh.group();
        float[] dq = new float[sh.qSize()], dk = new float[sh.kSize()], dv = new float[sh.vSize()];
        float[] ds = new float[sh.slotSize()], dg = new float[sh.slotSize()];
        GsaState dInitial = GsaState.zeros(sh);

        HeadTasks.run(sh, task -> {
            int b = task / sh.kvHeads(), kv = task % sh.kvHeads();
            int hkSize = K * M, hvSize = M * V;
            // Forward, keeping the state after every token (index t+1; index 0 is the initial state)
            // and p of every query head of the group.
            float[] hkAll = new float[(T + 1) * hkSize], hvAll = new float[(T + 1) * hvSize];
            float[] pAll = new float[T * G * M];
            if (initial != null) {
                System.arraycopy(initial.hk(), initial.hkOffset(b, kv), hkAll, 0, hkSize);
                System.arraycopy(initial.hv(), initial.hvOffset(b, kv), hvAll, 0, hvSize);
            }
            Step step = new Step(in, hkAll, hvAll);
            float[] oUnused = new float[V];
            for (int t = 0; t < T; t++) {
                System.arraycopy(hkAll, t * hkSize, hkAll, (t + 1) * hkSize, hkSize);
                System.arraycopy(hvAll, t * hvSize, hvAll, (t + 1) * hvSize, hvSize);
                step.moveTo((t + 1) * hkSize, (t + 1) * hvSize);
                step.advance(b, t, kv);
                for (int i = 0; i < G; i++) {
                    step.read(b, t, kv * G + i, oUnused, 0);
                    System.arraycopy(step.p, 0, pAll, (t * G + i) * M, M);
                }
            }

            // Backward through time. dHk, dHv hold dL/dHk_t, dL/dHv_t once token t's reads are added.
            float[] dHk = new float[hkSize], dHv = new float[hvSize];
            if (dFinal != null) {
                System.arraycopy(dFinal.hk(), dFinal.hkOffset(b, kv), dHk, 0, hkSize);
                System.arraycopy(dFinal.hv(), dFinal.hvOffset(b, kv), dHv, 0, hvSize);
            }
            float[] dp = new float[M], dok = new float[M], decay = new float[M];
            float scale = in.scale();
            for (int t = T - 1; t >= 0; t--) {
                int hkT = (t + 1) * hkSize, hvT = (t + 1) * hvSize, hkPrev = t * hkSize, hvPrev = t * hvSize;
                for (int i = 0; i < G; i++) {
                    int h = kv * G + i, pOff = (t * G + i) * M, doOff = sh.o(b, t, h), qOff = sh.q(b, t, h);
                    // o_t = p_tᵀ Hv_t
                    for (int m = 0; m < M; m++) {
                        float acc = 0f;
                        for (int c = 0; c < V; c++) acc += hvAll[hvT + m * V + c] * dO[doOff + c];
                        dp[m] = acc;
                        float pm = pAll[pOff + m];
                        for (int c = 0; c < V; c++) dHv[m * V + c] += pm * dO[doOff + c];
                    }
                    // p_t = softmax(ok_t)
                    Softmax.backward(pAll, pOff, dp, 0, dok, 0, M);
                    // ok_t = (scale·q_t)ᵀ Hk_t
                    for (int a = 0; a < K; a++) {
                        float acc = 0f;
                        for (int m = 0; m < M; m++) acc += hkAll[hkT + a * M + m] * dok[m];
                        dq[qOff + a] = scale * acc;
                        float qa = scale * in.q()[qOff + a];
                        for (int m = 0; m < M; m++) dHk[a * M + m] += qa * dok[m];
                    }
                }
                // Hk_t = Hk_{t-1} ⊙ exp(g_t)[None,:] + k_t ⊗ s_t;  Hv_t = Hv_{t-1} ⊙ exp(g_t)[:,None] + s_t ⊗ v_t
                int kOff = sh.k(b, t, kv), vOff = sh.v(b, t, kv), sOff = sh.slot(b, t, kv);
                for (int m = 0; m < M; m++) decay[m] = (float) Math.exp(in.g()[sOff + m]);
                for (int a = 0; a < K; a++) {
                    float acc = 0f;
                    for (int m = 0; m < M; m++) acc += dHk[a * M + m] * in.s()[sOff + m];
                    dk[kOff + a] = acc;
                }
                for (int c = 0; c < V; c++) {
                    float acc = 0f;
                    for (int m = 0; m < M; m++) acc += dHv[m * V + c] * in.s()[sOff + m];
                    dv[vOff + c] = acc;
                }
                for (int m = 0; m < M; m++) {
                    float viaK = 0f, viaV = 0f, decayK = 0f, decayV = 0f;
                    for (int a = 0; a < K; a++) {
                        viaK += dHk[a * M + m] * in.k()[kOff + a];
                        decayK += dHk[a * M + m] * hkAll[hkPrev + a * M + m];
                    }
                    for (int c = 0; c < V; c++) {
                        viaV += dHv[m * V + c] * in.v()[vOff + c];
                        decayV += dHv[m * V + c] * hvAll[hvPrev + m * V + c];
                    }
                    ds[sOff + m] = viaK + viaV;
                    dg[sOff + m] = decay[m] * (decayK + decayV);
                }
                for (int a = 0; a < K; a++) {
                    for (int m = 0; m < M; m++) dHk[a * M + m] *= decay[m];
                }
                for (int m = 0; m < M; m++) {
                    for (int c = 0; c < V; c++) dHv[m * V + c] *= decay[m];
                }
            }
            System.arraycopy(dHk, 0, dInitial.hk(), dInitial.hkOffset(b, kv), hkSize);
            System.arraycopy(dHv, 0, dInitial.hv(), dInitial.hvOffset(b, kv), hvSize);
        });
        return new GsaGradients(dq, dk, dv, ds, dg, dInitial);
    }

    /**
     * One token of one (sequence, kv head): the state update and the reads of its query heads, on
     * the state stored at {@code hk[hkOff..]} and {@code hv[hvOff..]}.
     */
    private static final class Step {
        final GsaInputs in;
        final GsaShape sh;
        final float[] hk, hv;
        int hkOff, hvOff;
        final float[] decay, ok, p;

        Step(GsaInputs in, float[] hk, float[] hv) {
            this.in = in;
            this.sh = in.shape();
            this.hk = hk;
            this.hv = hv;
            this.decay = new float[sh.slots()];
            this.ok = new float[sh.slots()];
            this.p = new float[sh.slots()];
        }

        void moveTo(int hkOffset, int hvOffset) {
            this.hkOff = hkOffset;
            this.hvOff = hvOffset;
        }

        /** Hk ← Hk ⊙ exp(g_t)[None,:] + k_t ⊗ s_t and Hv ← Hv ⊙ exp(g_t)[:,None] + s_t ⊗ v_t. */
        void advance(int b, int t, int kv) {
            int K = sh.keyDim(), V = sh.valueDim(), M = sh.slots();
            int kOff = sh.k(b, t, kv), vOff = sh.v(b, t, kv), sOff = sh.slot(b, t, kv);
            float[] k = in.k(), v = in.v(), s = in.s(), g = in.g();
            for (int m = 0; m < M; m++) decay[m] = (float) Math.exp(g[sOff + m]);
            for (int a = 0; a < K; a++) {
                int row = hkOff + a * M;
                float ka = k[kOff + a];
                for (int m = 0; m < M; m++) hk[row + m] = hk[row + m] * decay[m] + ka * s[sOff + m];
            }
            for (int m = 0; m < M; m++) {
                int row = hvOff + m * V;
                float dm = decay[m], sm = s[sOff + m];
                for (int c = 0; c < V; c++) hv[row + c] = hv[row + c] * dm + sm * v[vOff + c];
            }
        }

        /** ok = (scale·q_t)ᵀ Hk, p = softmax(ok), o[oOff..] = pᵀ Hv for query head h; leaves ok and p here. */
        void read(int b, int t, int h, float[] o, int oOff) {
            int K = sh.keyDim(), V = sh.valueDim(), M = sh.slots();
            int qOff = sh.q(b, t, h);
            float scale = in.scale();
            Arrays.fill(ok, 0f);
            for (int a = 0; a < K; a++) {
                float qa = scale * in.q()[qOff + a];
                int row = hkOff + a * M;
                for (int m = 0; m < M; m++) ok[m] += qa * hk[row + m];
            }
            Softmax.forward(ok, 0, p, 0, M);
            for (int c = 0; c < V; c++) o[oOff + c] = 0f;
            for (int m = 0; m < M; m++) {
                float pm = p[m];
                int row = hvOff + m * V;
                for (int c = 0; c < V; c++) o[oOff + c] += pm * hv[row + c];
            }
        }
    }
}
