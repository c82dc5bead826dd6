package gsat2r.core.model.llama;

import gsat2r.core.config.LlamaConfig;
import gsat2r.core.config.RopeParameters;

import java.util.Map;

/**
 * A float64 Llama/Mistral forward written from the definition, independent of the fp32 ops: plain
 * loops, RoPE frequencies from the float64 formulas (llama3 as in Meta's reference), masks by
 * explicit condition. The reference the model tests compare with.
 */
final class NaiveLlama {
    private NaiveLlama() {}

    static double[][] logits(LlamaConfig c, Map<String, float[]> t, int[] ids) {
        int T = ids.length, d = c.hiddenSize(), H = c.numAttentionHeads(), Hkv = c.numKeyValueHeads(), dh = c.headDim();
        double[][] h = new double[T][d];
        float[] embed = t.get("model.embed_tokens.weight");
        for (int i = 0; i < T; i++) for (int j = 0; j < d; j++) h[i][j] = embed[ids[i] * d + j];
        double[] inv = invFreq(c.rope(), dh);
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] n = norm(h, t.get(p + "input_layernorm.weight"), c.rmsNormEps());
            add(h, attention(c, t, p, n, inv));
            n = norm(h, t.get(p + "post_attention_layernorm.weight"), c.rmsNormEps());
            double[][] gate = linear(n, t.get(p + "mlp.gate_proj.weight"), t.get(p + "mlp.gate_proj.bias"));
            double[][] up = linear(n, t.get(p + "mlp.up_proj.weight"), t.get(p + "mlp.up_proj.bias"));
            for (int i = 0; i < T; i++)
                for (int j = 0; j < gate[i].length; j++) gate[i][j] = gate[i][j] / (1 + Math.exp(-gate[i][j])) * up[i][j];
            add(h, linear(gate, t.get(p + "mlp.down_proj.weight"), t.get(p + "mlp.down_proj.bias")));
        }
        double[][] n = norm(h, t.get("model.norm.weight"), c.rmsNormEps());
        float[] head = c.tieWordEmbeddings() ? embed : t.get("lm_head.weight");
        return linear(n, head, null);
    }

    /** Self-attention of one layer (prefix {@code p}) on normed input n, after o_proj. */
    static double[][] attention(LlamaConfig c, Map<String, float[]> t, String p, double[][] n, double[] inv) {
        int T = n.length, H = c.numAttentionHeads(), Hkv = c.numKeyValueHeads(), dh = c.headDim();
            double[][] q = linear(n, t.get(p + "self_attn.q_proj.weight"), t.get(p + "self_attn.q_proj.bias"));
            double[][] k = linear(n, t.get(p + "self_attn.k_proj.weight"), t.get(p + "self_attn.k_proj.bias"));
            double[][] v = linear(n, t.get(p + "self_attn.v_proj.weight"), t.get(p + "self_attn.v_proj.bias"));
            rope(q, H, dh, inv);
            rope(k, Hkv, dh, inv);
            double[][] att = new double[T][H * dh];
            for (int hd = 0; hd < H; hd++) {
                int g = hd / (H / Hkv);
                for (int i = 0; i < T; i++) {
                    double[] w = new double[T];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        if (!visible(c, i, j)) continue;
                        double s = 0;
                        for (int e = 0; e < dh; e++) s += q[i][hd * dh + e] * k[j][g * dh + e];
                        w[j] = s / Math.sqrt(dh);
                        max = Math.max(max, w[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) if (visible(c, i, j)) sum += (w[j] = Math.exp(w[j] - max));
                    for (int j = 0; j <= i; j++) {
                        if (!visible(c, i, j)) continue;
                        for (int e = 0; e < dh; e++) att[i][hd * dh + e] += w[j] / sum * v[j][g * dh + e];
                    }
                }
            }
            return linear(att, t.get(p + "self_attn.o_proj.weight"), t.get(p + "self_attn.o_proj.bias"));
    }

    static boolean visible(LlamaConfig c, int i, int j) {
        return j <= i && (c.slidingWindow() == null || i - j < c.slidingWindow());
    }

    static double[] invFreq(RopeParameters r, int dh) {
        double[] inv = new double[dh / 2];
        for (int i = 0; i < dh / 2; i++) {
            double f = 1.0 / Math.pow(r.theta(), 2.0 * i / dh);
            switch (r.type()) {
                case DEFAULT -> inv[i] = f;
                case LINEAR -> inv[i] = f / r.factor();
                case LLAMA3 -> {
                    double old = r.originalMaxPositionEmbeddings(), wavelen = 2 * Math.PI / f;
                    if (wavelen < old / r.highFreqFactor()) inv[i] = f;
                    else if (wavelen > old / r.lowFreqFactor()) inv[i] = f / r.factor();
                    else {
                        double s = (old / wavelen - r.lowFreqFactor()) / (r.highFreqFactor() - r.lowFreqFactor());
                        inv[i] = (1 - s) * f / r.factor() + s * f;
                    }
                }
            }
        }
        return inv;
    }

    static void rope(double[][] x, int heads, int dh, double[] inv) {
        for (int pos = 0; pos < x.length; pos++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < dh / 2; i++) {
                    double a = pos * inv[i], c = Math.cos(a), s = Math.sin(a);
                    double x1 = x[pos][h * dh + i], x2 = x[pos][h * dh + dh / 2 + i];
                    x[pos][h * dh + i] = x1 * c - x2 * s;
                    x[pos][h * dh + dh / 2 + i] = x2 * c + x1 * s;
                }
    }

    static double[][] norm(double[][] x, float[] w, double eps) {
        double[][] y = new double[x.length][x[0].length];
        for (int i = 0; i < x.length; i++) {
            double ss = 0;
            for (double v : x[i]) ss += v * v;
            double r = 1 / Math.sqrt(ss / x[i].length + eps);
            for (int j = 0; j < x[i].length; j++) y[i][j] = x[i][j] * r * w[j];
        }
        return y;
    }

    static double[][] linear(double[][] x, float[] w, float[] b) {
        int in = x[0].length, out = w.length / in;
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++)
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int j = 0; j < in; j++) s += x[i][j] * w[o * in + j];
                y[i][o] = s;
            }
        return y;
    }

    static void add(double[][] h, double[][] x) {
        for (int i = 0; i < h.length; i++) for (int j = 0; j < h[i].length; j++) h[i][j] += x[i][j];
    }
}
