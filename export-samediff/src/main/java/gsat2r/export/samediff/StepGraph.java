package gsat2r.export.samediff;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.cpu.Attention;
import gsat2r.core.cpu.Rope;
import gsat2r.core.model.gsa.GsaModel;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;

/**
 * The recurrent decode step of a GSA student as a SameDiff graph: one token and the state in, the
 * next-token logits and the new state out, fp32, weights as constants in fla's layouts. Per GSA layer
 * (see {@code docs/student.md} and {@code gsat2r.core.gsa.GsaRecurrent}), with x the normed token:
 *
 * <pre>
 *   q = silu(x Wqᵀ) [Hkv, G, dk]   k = silu(x Wkᵀ) [Hkv, dk]   v = silu(x Wvᵀ) [Hkv, dv]
 *   g = logsigmoid(x Wfᵀ)/τ [Hkv, M]      s = 1 − exp(g)
 *   Hk' = Hk ⊙ exp(g)[:, None, :] + k[:, :, None] s[:, None, :]      [Hkv, dk, M]
 *   Hv' = Hv ⊙ exp(g)[:, :, None] + s[:, :, None] v[:, None, :]      [Hkv, M, dv]
 *   o = softmax(q Hk') Hv'  [Hkv, G, dv]  →  out = (RMSNorm_1e-5(silu(o)) ⊙ g_norm) Woᵀ
 * </pre>
 *
 * A softmax-attention layer of a hybrid student keeps its keys (after RoPE) and values in a ring of C
 * rows, a fixed-size state: C is the layer's window, or {@code maxContext} for full attention; the
 * token at position p is written to row {@code p mod C} and the query sees rows {@code r ≤ p} (every row
 * once p ≥ C, which with a window is exactly the window).
 *
 * <p>Names: placeholders {@code token} (INT32 [1]), {@code position} (INT32 [1], only with attention
 * layers), {@code state.L.hk}, {@code state.L.hv} (GSA layer L), {@code state.L.keys},
 * {@code state.L.values} (attention layer L, [C, kv_heads·head_dim]); outputs {@code logits} [1, V] and
 * {@code next.L.*}, the new value of each {@code state.L.*}; a constant {@code max_positions} (INT scalar)
 * when a full-attention layer limits the sequence to {@code maxContext} tokens.
 */
final class StepGraph {
    static final String TOKEN = "token", POSITION = "position", LOGITS = "logits";
    /** A constant INT scalar, present when a full-attention layer bounds the positions the graph can take. */
    static final String MAX_POSITIONS = "max_positions";

    /** One state tensor: its placeholder name, output name and shape. */
    record StateTensor(String input, String output, long[] shape) {}

    private final SameDiff sd = SameDiff.create();
    private final GsaModel model;
    private final GsaConfig c;
    private final List<StateTensor> states = new ArrayList<>();
    private SDVariable position;

    private StepGraph(GsaModel model) {
        this.model = model;
        this.c = model.config();
    }

    /** The graph of {@code model}'s decode step; full-attention layers hold {@code maxContext} positions. */
    static StepGraph build(GsaModel model, int maxContext) {
        StepGraph g = new StepGraph(model);
        g.define(maxContext);
        return g;
    }

    SameDiff sameDiff() {
        return sd;
    }

    List<StateTensor> states() {
        return List.copyOf(states);
    }

    private void define(int maxContext) {
        int d = c.hiddenSize(), V = c.vocabSize();
        SDVariable token = sd.placeHolder(TOKEN, DataType.INT, 1);
        if (!c.attn().isEmpty()) position = sd.placeHolder(POSITION, DataType.INT, 1);
        SDVariable emb = weight("model.embeddings.weight", V, d);
        SDVariable h = sd.gather(emb, token, 0);                                    // [1, d]
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            String p = "model.layers." + l + ".";
            SDVariable x = rmsNorm(h, weight(p + "attn_norm.weight", d), (float) c.normEps());
            SDVariable mixed = c.isGsaLayer(l) ? gsa(l, x) : attention(l, x, maxContext);
            h = h.add(mixed);
            SDVariable n = rmsNorm(h, weight(p + "mlp_norm.weight", d), (float) c.normEps());
            int I = c.intermediateSize();
            SDVariable gate = silu(linear(n, weight(p + "mlp.gate_proj.weight", I, d)));
            SDVariable up = linear(n, weight(p + "mlp.up_proj.weight", I, d));
            h = h.add(linear(gate.mul(up), weight(p + "mlp.down_proj.weight", d, I)));
        }
        boolean fullAttention = c.attn().stream().anyMatch(s -> s.window() == 0);
        if (fullAttention) sd.constant(MAX_POSITIONS, Nd4j.scalar(DataType.INT, maxContext));
        SDVariable last = rmsNorm(h, weight("model.norm.weight", d), (float) c.normEps());
        SDVariable out = c.tieWordEmbeddings() ? emb : weight("lm_head.weight", V, d);
        sd.mmul(LOGITS, last, out, false, true, false);                            // [1, V]
    }

    private SDVariable gsa(int l, SDVariable x) {
        String p = "model.layers." + l + ".attn.";
        int d = c.hiddenSize(), H = c.numHeads(), Hkv = c.numKvHeads(), G = H / Hkv;
        int dk = c.headKDim(), dv = c.headVDim(), M = c.numSlots();
        SDVariable hk = state(l, "hk", Hkv, dk, M), hv = state(l, "hv", Hkv, M, dv);
        SDVariable q = silu(linear(x, weight(p + "q_proj.weight", H * dk, d))).reshape(Hkv, G, dk);
        SDVariable k = silu(linear(x, weight(p + "k_proj.weight", Hkv * dk, d))).reshape(Hkv, dk, 1);
        SDVariable v = silu(linear(x, weight(p + "v_proj.weight", Hkv * dv, d))).reshape(Hkv, 1, dv);
        SDVariable f = linear(x, weight(p + "f_proj.weight", Hkv * M, d)).reshape(Hkv, M);
        // log σ(f) = f − relu(f) − log1p(exp(−|f|)): exact for any f (no overflow), as the Java student computes it.
        SDVariable logSigmoid = f.sub(sd.nn.relu(f, 0)).sub(sd.math.log1p(sd.math.exp(sd.math.abs(f).neg())));
        SDVariable g = logSigmoid.div(c.gateLogitNormalizer());
        SDVariable decay = sd.math.exp(g), s = decay.rsub(1.0);
        SDVariable hkNext = hk.mul(decay.reshape(Hkv, 1, M)).add(k.mul(s.reshape(Hkv, 1, M)));
        SDVariable hvNext = hv.mul(decay.reshape(Hkv, M, 1)).add(s.reshape(Hkv, M, 1).mul(v));
        sd.identity("next." + l + ".hk", hkNext);
        sd.identity("next." + l + ".hv", hvNext);
        SDVariable probs = sd.nn.softmax(sd.mmul(q, hkNext), -1);                 // [Hkv, G, M]
        SDVariable o = sd.mmul(probs, hvNext).reshape(1, H * dv);                  // [1, H·dv], query head h = κ·G + i
        SDVariable y = rmsNorm(silu(o), weight(p + "g_norm.weight", H * dv), GsaConfig.G_NORM_EPS);
        return linear(y, weight(p + "o_proj.weight", d, H * dv));
    }

    private SDVariable attention(int l, SDVariable x, int maxContext) {
        String p = "model.layers." + l + ".attn.";
        GsaConfig.AttentionSpec spec = c.attentionAt(l);
        int d = c.hiddenSize(), H = spec.numHeads(), Hkv = spec.numKvHeads(), G = H / Hkv, hd = spec.headDim(d);
        int window = spec.window(), C = window > 0 ? window : maxContext, kw = Hkv * hd;
        if (C < 1) throw new T2rException("attention layer " + l + " needs a positive --max-context");
        SDVariable keys = state(l, "keys", C, kw), values = state(l, "values", C, kw);
        SDVariable q = project(x, p + "q_proj", H * hd, spec.qkvBias());
        SDVariable k = project(x, p + "k_proj", kw, spec.qkvBias());
        SDVariable v = project(x, p + "v_proj", kw, spec.qkvBias());

        // RoPE at this position: angle = p · inv_freq in fp32, non-interleaved halves (rotate_half).
        float[] invFreq = Rope.inverseFrequencies(spec.rope(), hd);
        SDVariable pos = sd.castTo(position, DataType.FLOAT).reshape(1, 1);
        SDVariable angle = pos.mul(sd.constant("rope." + l + ".inv_freq", Nd4j.create(invFreq, new long[] {1, hd / 2}, 'c')));
        SDVariable cos = sd.math.cos(angle), sin = sd.math.sin(angle);              // [1, hd/2]
        q = rope(q.reshape(H, hd), cos, sin, hd);
        k = rope(k.reshape(Hkv, hd), cos, sin, hd).reshape(1, kw);

        // Write row (p mod C), then attend to the rows r ≤ p.
        SDVariable row = sd.math.floorMod(position, sd.constant("ring." + l + ".capacity", Nd4j.scalar(DataType.INT, C)));
        SDVariable hot = sd.oneHot(row, C, -1, 1.0, 0.0, DataType.FLOAT).reshape(C, 1);   // [C, 1]
        SDVariable keep = hot.rsub(1.0);
        SDVariable keysNext = keys.mul(keep).add(hot.mul(k));
        SDVariable valuesNext = values.mul(keep).add(hot.mul(v.reshape(1, kw)));
        sd.identity("next." + l + ".keys", keysNext);
        sd.identity("next." + l + ".values", valuesNext);

        SDVariable rows = sd.range("ring." + l + ".rows", 0, C, 1, DataType.FLOAT).reshape(1, 1, C);
        SDVariable visible = sd.castTo(sd.lte(rows, pos.reshape(1, 1, 1)), DataType.FLOAT);
        SDVariable mask = visible.rsub(1.0).mul(-1e30);                            // 0 where visible, −1e30 elsewhere
        SDVariable kHeads = keysNext.reshape(C, Hkv, hd).permute(1, 2, 0);        // [Hkv, hd, C]
        SDVariable vHeads = valuesNext.reshape(C, Hkv, hd).permute(1, 0, 2);      // [Hkv, C, hd]
        SDVariable scores = sd.mmul(q.reshape(Hkv, G, hd), kHeads).mul(Attention.defaultScale(hd)).add(mask);
        SDVariable att = sd.mmul(sd.nn.softmax(scores, -1), vHeads).reshape(1, H * hd);
        return linear(att, weight(p + "o_proj.weight", d, H * hd));
    }

    /** {@code [n, hd]} rotated by the tables {@code cos, sin [1, hd/2]}: (x1 c − x2 s, x2 c + x1 s). */
    private SDVariable rope(SDVariable x, SDVariable cos, SDVariable sin, int hd) {
        int half = hd / 2;
        SDVariable[] parts = sd.split(x, 2, 1);
        SDVariable x1 = parts[0], x2 = parts[1];
        if (x1.getShape() != null && x1.getShape().length == 2 && x1.getShape()[1] != half) {
            throw new IllegalStateException("RoPE split gave " + java.util.Arrays.toString(x1.getShape()));
        }
        return sd.concat(1, x1.mul(cos).sub(x2.mul(sin)), x2.mul(cos).add(x1.mul(sin)));
    }

    private SDVariable project(SDVariable x, String name, int out, boolean bias) {
        SDVariable y = linear(x, weight(name + ".weight", out, c.hiddenSize()));
        return bias ? y.add(weight(name + ".bias", 1, out)) : y;
    }

    private SDVariable state(int layer, String what, long... shape) {
        String in = "state." + layer + "." + what;
        states.add(new StateTensor(in, "next." + layer + "." + what, shape));
        return sd.placeHolder(in, DataType.FLOAT, shape);
    }

    /** A checkpoint tensor as a constant named after it, with the given shape. */
    private SDVariable weight(String name, long... shape) {
        float[] values = model.tensor(name);
        return sd.constant(name, Nd4j.create(values, shape, 'c'));
    }

    /** {@code x Wᵀ} for {@code x [1, in]} and {@code W [out, in]}. */
    private SDVariable linear(SDVariable x, SDVariable w) {
        return sd.mmul(x, w, false, true, false);
    }

    private static SDVariable silu(SDVariable x) {
        return x.mul(x.getSameDiff().nn.sigmoid(x));
    }

    /** {@code x · rsqrt(mean(x², last axis) + eps) ⊙ w} on {@code [1, n]}. */
    private SDVariable rmsNorm(SDVariable x, SDVariable w, float eps) {
        SDVariable meanSquare = x.mul(x).mean(true, 1);
        return x.mul(sd.math.rsqrt(meanSquare.add(eps))).mul(w);
    }
}
