package gsat2r.core.model.gsa;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.cpu.Attention;
import gsat2r.core.cpu.Linear;
import gsat2r.core.cpu.Rope;
import gsat2r.core.model.gsa.ParameterView.Kind;

import java.util.ArrayList;
import java.util.List;

/**
 * The softmax-attention layer of a hybrid student, as fla 0.5.2's {@code Attention} computes it from an
 * {@code attn} spec: {@code q = x Wqᵀ (+bq)}, {@code k}, {@code v} likewise, RoPE on q and k
 * (non-interleaved, {@code rotate_half}, fp32 {@code inv_freq} from {@code rope_theta}; our
 * {@code rope_scaling} extension scales it as transformers does), causal attention with scale
 * {@code head_dim^-0.5} over the keys {@code 0 ≤ i−j < window_size} (all when null), GQA, then
 * {@code o_proj} without bias. Built on {@link Attention} and {@link Rope}.
 */
public final class AttentionMixer implements Mixer {
    private final int d, heads, kvHeads, headDim, window;
    private final float scale;
    private final float[] invFreq;
    private final ParameterView wq, bq, wk, bk, wv, bv, wo;

    AttentionMixer(GsaLayout layout, int layer) {
        GsaConfig c = layout.config();
        GsaConfig.AttentionSpec s = c.attentionAt(layer);
        this.d = c.hiddenSize();
        this.heads = s.numHeads();
        this.kvHeads = s.numKvHeads();
        this.headDim = s.headDim(d);
        this.window = s.window();
        this.scale = Attention.defaultScale(headDim);
        this.invFreq = Rope.inverseFrequencies(s.rope(), headDim);
        this.wq = layout.get(Kind.Q_PROJ, layer);
        this.bq = layout.optional(Kind.Q_BIAS, layer);
        this.wk = layout.get(Kind.K_PROJ, layer);
        this.bk = layout.optional(Kind.K_BIAS, layer);
        this.wv = layout.get(Kind.V_PROJ, layer);
        this.bv = layout.optional(Kind.V_BIAS, layer);
        this.wo = layout.get(Kind.O_PROJ, layer);
    }

    @Override
    public List<ParameterView> views() {
        List<ParameterView> v = new ArrayList<>();
        for (ParameterView p : new ParameterView[] {wq, bq, wk, bk, wv, bv, wo}) if (p != null) v.add(p);
        return v;
    }

    int queryWidth() {
        return heads * headDim;
    }

    /** Width of one cached key (or value) row: {@code kv_heads · head_dim}. */
    int kvWidth() {
        return kvHeads * headDim;
    }

    /** The attention window in tokens, 0 for full attention. */
    int window() {
        return window;
    }

    /** Keys and values after RoPE, the log-sum-exp of every query, and the attention output before o_proj. */
    public static final class Pass implements Mixer.Pass {
        final int batch, seqLen;
        final float[] x, q, k, v, lse, att, out, cos, sin;

        Pass(int batch, int seqLen, float[] x, float[] q, float[] k, float[] v, float[] lse, float[] att, float[] out,
             float[] cos, float[] sin) {
            this.batch = batch;
            this.seqLen = seqLen;
            this.x = x;
            this.q = q;
            this.k = k;
            this.v = v;
            this.lse = lse;
            this.att = att;
            this.out = out;
            this.cos = cos;
            this.sin = sin;
        }

        @Override
        public float[] out() {
            return out;
        }

        @Override
        public int batch() {
            return batch;
        }

        @Override
        public int seqLen() {
            return seqLen;
        }

        /** Keys after RoPE, {@code [B·T, kv_heads·head_dim]} (what a KV cache holds). */
        float[] keys() {
            return k;
        }

        float[] values() {
            return v;
        }
    }

    @Override
    public Pass forward(float[] p, float[] x, int batch, int seqLen) {
        int n = batch * seqLen, qw = queryWidth(), kw = kvWidth();
        float[] q = new float[n * qw], k = new float[n * kw], v = new float[n * kw];
        project(p, x, n, q, k, v);
        float[] cos = new float[seqLen * headDim / 2], sin = new float[seqLen * headDim / 2];
        Rope.tables(invFreq, 0, seqLen, cos, sin);
        float[] lse = new float[n * heads], att = new float[n * qw], out = new float[n * d];
        for (int b = 0; b < batch; b++) {
            Rope.forward(q, b * seqLen * qw, q, b * seqLen * qw, cos, sin, 0, seqLen, heads, headDim);
            Rope.forward(k, b * seqLen * kw, k, b * seqLen * kw, cos, sin, 0, seqLen, kvHeads, headDim);
            Attention.forward(att, b * seqLen * qw, lse, b * seqLen * heads, q, b * seqLen * qw, k, b * seqLen * kw,
                    v, b * seqLen * kw, seqLen, heads, kvHeads, headDim, window, scale);
        }
        Linear.forward(out, 0, att, 0, p, wo.arrayOffset(), null, 0, n, qw, d);
        return new Pass(batch, seqLen, x, q, k, v, lse, att, out, cos, sin);
    }

    /**
     * Decoding for one sequence: {@code T} new (normed) tokens {@code x [T, d]} at positions
     * {@code pos0..}, each attending to the cache and the tokens before it; their keys and values are
     * stored in {@code cache}. Returns the output {@code [T, d]}. Same arithmetic as {@link #forward}.
     */
    float[] decode(float[] p, float[] x, int T, int pos0, KvRing cache) {
        int qw = queryWidth(), kw = kvWidth();
        float[] q = new float[T * qw], k = new float[T * kw], v = new float[T * kw];
        project(p, x, T, q, k, v);
        float[] cos = new float[T * headDim / 2], sin = new float[T * headDim / 2];
        Rope.tables(invFreq, pos0, T, cos, sin);
        Rope.forward(q, 0, q, 0, cos, sin, 0, T, heads, headDim);
        Rope.forward(k, 0, k, 0, cos, sin, 0, T, kvHeads, headDim);
        cache.ensure(pos0, pos0 + T);
        float[] att = new float[T * qw], out = new float[T * d];
        if (pos0 == 0) {
            // A fresh sequence: the batched (parallel) forward, then the rows the cache keeps.
            Attention.forward(att, 0, null, 0, q, 0, k, 0, v, 0, T, heads, kvHeads, headDim, window, scale);
            for (int t = Math.max(0, T - cache.capacity()); t < T; t++) cache.put(t, k, t * kw, v, t * kw);
        } else {
            for (int t = 0; t < T; t++) {
                cache.put(pos0 + t, k, t * kw, v, t * kw);
                Attention.decode(att, t * qw, q, t * qw, cache.keys(), cache.values(), cache.capacity(), pos0 + t,
                        heads, kvHeads, headDim, window, scale);
            }
        }
        Linear.forward(out, 0, att, 0, p, wo.arrayOffset(), null, 0, T, qw, d);
        return out;
    }

    /**
     * One decoding step for B sequences: row b of {@code x [B, d]} is the next (normed) token of a sequence
     * at {@code positions[b]} whose keys and values are in {@code caches[b]} (where its own are stored).
     * Returns the output {@code [B, d]}; each row is what {@link #decode} gives that sequence alone.
     */
    float[] decodeEach(float[] p, float[] x, int[] positions, KvRing[] caches) {
        int B = positions.length, qw = queryWidth(), kw = kvWidth();
        float[] q = new float[B * qw], k = new float[B * kw], v = new float[B * kw];
        project(p, x, B, q, k, v);
        float[] cos = new float[B * headDim / 2], sin = new float[B * headDim / 2];
        Rope.tablesAt(invFreq, positions, cos, sin);
        Rope.forward(q, 0, q, 0, cos, sin, 0, B, heads, headDim);
        Rope.forward(k, 0, k, 0, cos, sin, 0, B, kvHeads, headDim);
        float[] att = new float[B * qw], out = new float[B * d];
        for (int b = 0; b < B; b++) {
            KvRing cache = caches[b];
            int pos = positions[b];
            cache.ensure(pos, pos + 1);
            cache.put(pos, k, b * kw, v, b * kw);
            Attention.decode(att, b * qw, q, b * qw, cache.keys(), cache.values(), cache.capacity(), pos,
                    heads, kvHeads, headDim, window, scale);
        }
        Linear.forward(out, 0, att, 0, p, wo.arrayOffset(), null, 0, B, qw, d);
        return out;
    }

    private void project(float[] p, float[] x, int n, float[] q, float[] k, float[] v) {
        int qw = queryWidth(), kw = kvWidth();
        Linear.forward(q, 0, x, 0, p, wq.arrayOffset(), bq == null ? null : p, bq == null ? 0 : bq.arrayOffset(), n, d, qw);
        Linear.forward(k, 0, x, 0, p, wk.arrayOffset(), bk == null ? null : p, bk == null ? 0 : bk.arrayOffset(), n, d, kw);
        Linear.forward(v, 0, x, 0, p, wv.arrayOffset(), bv == null ? null : p, bv == null ? 0 : bv.arrayOffset(), n, d, kw);
    }

    @Override
    public void backward(Mixer.Pass mixerPass, float[] dOut, float[] dx, float[] p, float[] grads,
                         ParameterGroup trainable) {
        Pass f = (Pass) mixerPass;
        int T = f.seqLen, n = f.batch * T, qw = queryWidth(), kw = kvWidth();
        float[] dAtt = new float[n * qw];
        Linear.backward(dAtt, 0, GsaMixer.grad(grads, wo, trainable), wo.arrayOffset(), null, 0, dOut, 0, f.att, 0, p,
                wo.arrayOffset(), n, qw, d);
        float[] dqRot = new float[n * qw], dkRot = new float[n * kw], dv = new float[n * kw];
        float[] dq = new float[n * qw], dk = new float[n * kw];
        for (int b = 0; b < f.batch; b++) {
            Attention.backward(dqRot, b * T * qw, dkRot, b * T * kw, dv, b * T * kw, dAtt, b * T * qw,
                    f.q, b * T * qw, f.k, b * T * kw, f.v, b * T * kw, f.lse, b * T * heads,
                    T, heads, kvHeads, headDim, window, scale);
            Rope.backward(dq, b * T * qw, dqRot, b * T * qw, f.cos, f.sin, 0, T, heads, headDim);
            Rope.backward(dk, b * T * kw, dkRot, b * T * kw, f.cos, f.sin, 0, T, kvHeads, headDim);
        }
        projectBackward(dx, grads, trainable, wq, bq, dq, f.x, p, n, qw);
        projectBackward(dx, grads, trainable, wk, bk, dk, f.x, p, n, kw);
        projectBackward(dx, grads, trainable, wv, bv, dv, f.x, p, n, kw);
    }

    private void projectBackward(float[] dx, float[] grads, ParameterGroup trainable, ParameterView w, ParameterView b,
                                 float[] dy, float[] x, float[] p, int rows, int out) {
        float[] dw = GsaMixer.grad(grads, w, trainable);
        float[] db = b == null ? null : GsaMixer.grad(grads, b, trainable);
        if (dx == null && dw == null && db == null) return;
        Linear.backward(dx, 0, dw, w.arrayOffset(), db, b == null ? 0 : b.arrayOffset(), dy, 0, x, 0, p, w.arrayOffset(), rows, d, out);
    }
}
