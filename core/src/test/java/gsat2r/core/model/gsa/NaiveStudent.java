package gsat2r.core.model.gsa;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.RopeParameters;

import java.util.Map;

/**
 * A float64 GSA student written from the definition (DESIGN.md, fla's modules), independent of the
 * fp32 code: plain loops over tokens and heads, the GSA recurrence token by token with a state per
 * query head (fla's naive form, k/v/s/g repeated over the group), softmax attention with explicit
 * masks, RoPE from the float64 formulas (default and linear scaling). The reference of the student
 * tests: its logits, and the finite differences of a loss of its logits.
 */
final class NaiveStudent {
    private NaiveStudent() {}

    /** Logits {@code [B·T][V]} of B sequences of T tokens ({@code ids[b·T + t]}). */
    static double[][] logits(GsaConfig c, Map<String, double[]> t, int[] ids, int B, int T) {
        double[][] out = new double[B * T][];
        for (int b = 0; b < B; b++) {
            int[] seq = java.util.Arrays.copyOfRange(ids, b * T, (b + 1) * T);
            double[][] l = sequence(c, t, seq);
            System.arraycopy(l, 0, out, b * T, T);
        }
        return out;
    }

    static double[][] sequence(GsaConfig c, Map<String, double[]> t, int[] ids) {
        int T = ids.length, d = c.hiddenSize();
        double[] embed = t.get("model.embeddings.weight");
        double[][] h = new double[T][d];
        for (int i = 0; i < T; i++) for (int j = 0; j < d; j++) h[i][j] = embed[ids[i] * d + j];
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] n = norm(h, t.get(p + "attn_norm.weight"), c.normEps());
            GsaConfig.AttentionSpec spec = c.attentionAt(l);
            add(h, spec == null ? gsaLayer(c, t, p + "attn.", n) : attentionLayer(c, spec, t, p + "attn.", n));
            n = norm(h, t.get(p + "mlp_norm.weight"), c.normEps());
            double[][] gate = linear(n, t.get(p + "mlp.gate_proj.weight"), null);
            double[][] up = linear(n, t.get(p + "mlp.up_proj.weight"), null);
            for (int i = 0; i < T; i++) for (int j = 0; j < gate[i].length; j++) gate[i][j] = silu(gate[i][j]) * up[i][j];
            add(h, linear(gate, t.get(p + "mlp.down_proj.weight"), null));
        }
        double[][] n = norm(h, t.get("model.norm.weight"), c.normEps());
        return linear(n, t.get(c.tieWordEmbeddings() ? "model.embeddings.weight" : "lm_head.weight"), null);
    }

    /** The GSA layer (prefix {@code p} = "...attn.") on normed input n, after o_proj. */
    static double[][] gsaLayer(GsaConfig c, Map<String, double[]> t, String p, double[][] n) {
        int T = n.length, H = c.numHeads(), G = c.groupSize(), dk = c.headKDim(), dv = c.headVDim(), M = c.numSlots();
        double tau = c.gateLogitNormalizer();
        double[][] q = linear(n, t.get(p + "q_proj.weight"), null), k = linear(n, t.get(p + "k_proj.weight"), null);
        double[][] v = linear(n, t.get(p + "v_proj.weight"), null), f = linear(n, t.get(p + "f_proj.weight"), null);
        if (c.shortConv() > 0) {                 // fla's ShortConvolution (activation silu) on q, k and v
            q = shortConv(q, t.get(p + "q_conv1d.weight"), c.shortConv());
            k = shortConv(k, t.get(p + "k_conv1d.weight"), c.shortConv());
            v = shortConv(v, t.get(p + "v_conv1d.weight"), c.shortConv());
        }
        double[][] o = new double[T][H * dv];
        for (int h = 0; h < H; h++) {
            int kv = h / G;
            double[][] hk = new double[dk][M], hv = new double[M][dv];
            for (int i = 0; i < T; i++) {
                double[] g = new double[M], s = new double[M];
                for (int m = 0; m < M; m++) {
                    double x = f[i][kv * M + m];
                    g[m] = (x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x))) / tau;
                    s[m] = 1 - Math.exp(g[m]);
                }
                for (int a = 0; a < dk; a++) {
                    double ka = silu(k[i][kv * dk + a]);
                    for (int m = 0; m < M; m++) hk[a][m] = hk[a][m] * Math.exp(g[m]) + ka * s[m];
                }
                for (int m = 0; m < M; m++) {
                    for (int e = 0; e < dv; e++) hv[m][e] = hv[m][e] * Math.exp(g[m]) + s[m] * silu(v[i][kv * dv + e]);
                }
                double[] ok = new double[M];
                for (int m = 0; m < M; m++) for (int a = 0; a < dk; a++) ok[m] += silu(q[i][h * dk + a]) * hk[a][m];
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (double x : ok) max = Math.max(max, x);
                for (int m = 0; m < M; m++) sum += (ok[m] = Math.exp(ok[m] - max));
                for (int e = 0; e < dv; e++) {
                    double acc = 0;
                    for (int m = 0; m < M; m++) acc += ok[m] / sum * hv[m][e];
                    o[i][h * dv + e] = acc;
                }
            }
        }
        for (double[] row : o) for (int j = 0; j < row.length; j++) row[j] = silu(row[j]);
        return linear(norm(o, t.get(p + "g_norm.weight"), 1e-5), t.get(p + "o_proj.weight"), null);
    }

    /** {@code silu(conv(x))}: torch's Conv1d with groups = channels and padding K − 1, its first T outputs. */
    static double[][] shortConv(double[][] x, double[] w, int taps) {
        int T = x.length, C = x[0].length;
        double[][] y = new double[T][C];
        for (int t = 0; t < T; t++) {
            for (int c = 0; c < C; c++) {
                double acc = 0;
                for (int j = 0; j < taps; j++) {          // output t sees the padded input t..t+K−1, i.e. x[t−K+1+j]
                    int src = t - taps + 1 + j;
                    if (src >= 0) acc += w[c * taps + j] * x[src][c];
                }
                y[t][c] = silu(acc);
            }
        }
        return y;
    }

    /** A hybrid attention layer on normed input n, after o_proj. */
    static double[][] attentionLayer(GsaConfig c, GsaConfig.AttentionSpec s, Map<String, double[]> t, String p,
                                     double[][] n) {
        int T = n.length, H = s.numHeads(), Hkv = s.numKvHeads(), dh = s.headDim(c.hiddenSize());
        double[][] q = linear(n, t.get(p + "q_proj.weight"), t.get(p + "q_proj.bias"));
        double[][] k = linear(n, t.get(p + "k_proj.weight"), t.get(p + "k_proj.bias"));
        double[][] v = linear(n, t.get(p + "v_proj.weight"), t.get(p + "v_proj.bias"));
        double[] inv = new double[dh / 2];
        RopeParameters r = s.rope();
        for (int i = 0; i < dh / 2; i++) {
            inv[i] = 1.0 / Math.pow(r.theta(), 2.0 * i / dh);
            if (r.type() == RopeParameters.Type.LINEAR) inv[i] /= r.factor();
            else if (r.type() != RopeParameters.Type.DEFAULT) throw new IllegalArgumentException("naive rope: " + r.type());
        }
        rope(q, H, dh, inv);
        rope(k, Hkv, dh, inv);
        double[][] att = new double[T][H * dh];
        for (int h = 0; h < H; h++) {
            int g = h / (H / Hkv);
            for (int i = 0; i < T; i++) {
                double[] w = new double[T];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    if (s.windowSize() != null && i - j >= s.windowSize()) continue;
                    double dot = 0;
                    for (int e = 0; e < dh; e++) dot += q[i][h * dh + e] * k[j][g * dh + e];
                    w[j] = dot / Math.sqrt(dh);
                    max = Math.max(max, w[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) {
                    if (s.windowSize() != null && i - j >= s.windowSize()) continue;
                    sum += (w[j] = Math.exp(w[j] - max));
                }
                for (int j = 0; j <= i; j++) {
                    if (s.windowSize() != null && i - j >= s.windowSize()) continue;
                    for (int e = 0; e < dh; e++) att[i][h * dh + e] += w[j] / sum * v[j][g * dh + e];
                }
            }
        }
        return linear(att, t.get(p + "o_proj.weight"), null);
    }

    static void rope(double[][] x, int heads, int dh, double[] inv) {
        int half = dh / 2;
        for (int pos = 0; pos < x.length; pos++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < half; i++) {
                    double a = pos * inv[i], x1 = x[pos][h * dh + i], x2 = x[pos][h * dh + half + i];
                    x[pos][h * dh + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
                    x[pos][h * dh + half + i] = x2 * Math.cos(a) + x1 * Math.sin(a);
                }
            }
        }
    }

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    static double[][] norm(double[][] x, double[] w, double eps) {
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            double ss = 0;
            for (double v : x[i]) ss += v * v;
            double r = 1 / Math.sqrt(ss / x[i].length + eps);
            y[i] = new double[x[i].length];
            for (int j = 0; j < x[i].length; j++) y[i][j] = x[i][j] * r * w[j];
        }
        return y;
    }

    /** {@code x Wᵀ + b} with {@code W [out, in]} row-major. */
    static double[][] linear(double[][] x, double[] w, double[] b) {
        int in = x[0].length, out = w.length / in;
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int j = 0; j < in; j++) s += x[i][j] * w[o * in + j];
                y[i][o] = s;
            }
        }
        return y;
    }

    static void add(double[][] h, double[][] x) {
        for (int i = 0; i < h.length; i++) for (int j = 0; j < h[i].length; j++) h[i][j] += x[i][j];
    }
}
