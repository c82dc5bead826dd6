package gsat2r.core.model.gsa;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.cpu.Linear;
import gsat2r.core.cpu.Parallel;
import gsat2r.core.T2rException;
import gsat2r.core.cpu.RmsNorm;
import gsat2r.core.cpu.ShortConv;
import gsat2r.core.cpu.Silu;
import gsat2r.core.gsa.GsaChunked;
import gsat2r.core.gsa.GsaGradients;
import gsat2r.core.gsa.GsaInputs;
import gsat2r.core.gsa.GsaRecurrent;
import gsat2r.core.gsa.GsaShape;
import gsat2r.core.gsa.GsaState;

/**
 * The Gated Slot Attention layer exactly as fla 0.5.2's {@code GatedSlotAttention} computes it in
 * fp32 (swish feature map, no output gate), on normed inputs {@code x [N, d]}:
 *
 * <pre>
 *   q = silu(x Wqᵀ) [N, H·dk]    k = silu(x Wkᵀ) [N, Hkv·dk]    v = silu(x Wvᵀ) [N, Hkv·dv]
 *   g = logsigmoid(x Wfᵀ) / τ    s = 1 − exp(g)                  [N, Hkv·M]
 *   o = GSA(q, k, v, s, g)        (scale 1; query head h reads kv head h / (H/Hkv))
 *   out = (RMSNorm_1e-5(silu(o)) ⊙ g_norm) Woᵀ
 * </pre>
 *
 * With short convolutions ({@code use_short_conv}, {@link ShortConv} of {@code conv_size} taps), fla's
 * {@code ShortConvolution} and its SiLU come between each projection and its activation:
 * {@code q = silu(silu(conv_q(x Wqᵀ)))}, and so for k and v; the gates are not convolved.
 *
 * Each step is rounded to fp32 as torch rounds it. {@link #forward} runs {@link GsaChunked} (the
 * training path); {@link #step} runs one token with {@link GsaRecurrent} (decoding). Backward is the
 * chain rule through the same steps, with the GSA operator's own backward in the middle:
 * {@code dg_total = dg − ds ⊙ exp(g)} (s depends on g), {@code df = dg_total/τ ⊙ σ(−f)}.
 */
public final class GsaMixer extends GsaLayerWeights implements Mixer {
    GsaMixer(GsaLayout layout, int layer) {
        super(layout, layer);
    }

    /** A zero recurrent state for {@code batch} sequences. */
    public GsaState newState(int batch) {
        return GsaState.zeros(batch, kvHeads, dk, slots, dv);
    }

    /**
     * What {@link #backward} needs: the projections, their convolutions (the projections themselves without
     * short convolutions), the gate's input, the operator's pass, the output norm's input and rstd.
     */
    public static final class Pass implements Mixer.Pass {
        final int batch, seqLen;
        final float[] x, qPre, kPre, vPre, qConv, kConv, vConv, fPre, o, a, rstd, y, out;
        final GsaChunked.Forward op;
        /** Each sequence's convolution rows after its last token, when the pass continued from rows; else null. */
        float[][] finalConvRows;

        Pass(int batch, int seqLen, float[] x, float[][] pre, float[][] conv, float[] fPre,
             GsaChunked.Forward op, float[] a, float[] rstd, float[] y, float[] out) {
            this.batch = batch;
            this.seqLen = seqLen;
            this.x = x;
            this.qPre = pre[0];
            this.kPre = pre[1];
            this.vPre = pre[2];
            this.qConv = conv[0];
            this.kConv = conv[1];
            this.vConv = conv[2];
            this.fPre = fPre;
            this.op = op;
            this.o = op.o();
            this.a = a;
            this.rstd = rstd;
            this.y = y;
            this.out = out;
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

        /** The recurrent state after the last token of every sequence. */
        public GsaState finalState() {
            return op.finalState();
        }

        /** Each sequence's convolution rows after its last token (see {@link GsaMixer#forward(float[], float[], int, int, GsaState, float[][])}). */
        public float[][] finalConvRows() {
            return finalConvRows;
        }

        /** The GSA operator output before the output norm, {@code o [B·T, H·dv]}. */
        public float[] operatorOutput() {
            return o;
        }
    }

    @Override
    public Pass forward(float[] p, float[] x, int batch, int seqLen) {
        return forward(p, x, batch, seqLen, null);
    }

    /** {@link #forward(float[], float[], int, int)} from the state {@code initial} (null: zeros; not modified). */
    public Pass forward(float[] p, float[] x, int batch, int seqLen, GsaState initial) {
        if (taps > 0 && initial != null) throw new IllegalArgumentException("a student with short convolutions continues from their rows too");
        return forward(p, x, batch, seqLen, initial, null);
    }

    /**
     * {@link #forward(float[], float[], int, int, GsaState)} continuing, with short convolutions, from each
     * sequence's last projections ({@code convRows[b]}, {@link #newConvRows()}; null: the sequences start here).
     * Neither is modified; the pass holds what follows ({@link Pass#finalConvRows()}).
     */
    public Pass forward(float[] p, float[] x, int batch, int seqLen, GsaState initial, float[][] convRows) {
        int n = batch * seqLen;
        GsaShape shape = shape(batch, seqLen);
        float[][] pre = {project(p, wq, x, n), project(p, wk, x, n), project(p, wv, x, n)};
        float[][] rows = convRows == null ? null : new float[batch][];
        if (rows != null) for (int b = 0; b < batch; b++) rows[b] = convRows[b].clone();
        float[][] conv = {convolve(p, cq, pre[0], batch, seqLen, rows, 0), convolve(p, ck, pre[1], batch, seqLen, rows, 1),
                convolve(p, cv, pre[2], batch, seqLen, rows, 2)};
        float[] fPre = project(p, wf, x, n);
        float[] q = features(conv[0]), k = features(conv[1]), v = features(conv[2]);
        float[] g = new float[fPre.length], s = new float[fPre.length];
        gates(fPre, g, s);
        GsaChunked.Forward op = GsaChunked.forward(new GsaInputs(shape, q, k, v, s, g, 1f), initial);
        float[] a = silu(op.o());
        float[] rstd = new float[n], y = new float[n * heads * dv], out = new float[n * d];
        RmsNorm.forward(y, 0, a, 0, p, gNorm.arrayOffset(), rstd, 0, n, heads * dv, GsaConfig.G_NORM_EPS);
        Linear.forward(out, 0, y, 0, p, wo.arrayOffset(), null, 0, n, heads * dv, d);
        Pass pass = new Pass(batch, seqLen, x, pre, conv, fPre, op, a, rstd, y, out);
        pass.finalConvRows = rows;
        return pass;
    }

    /**
     * One decoding step for {@code B = state.batch()} sequences: {@code x [B, d]} holds each
     * sequence's next (normed) token; updates {@code state} and returns the output {@code [B, d]}.
     */
    public float[] step(float[] p, float[] x, GsaState state) {
        return step(p, x, state, null);
    }

    /** {@link #step(float[], float[], GsaState)} with each sequence's convolution rows ({@code convRows[b]}, updated). */
    public float[] step(float[] p, float[] x, GsaState state, float[][] convRows) {
        return decodeStep(p, x, state.batch(), convRows, (q, k, v, s, g) -> GsaRecurrent.step(state, heads, q, k, v, s, g, 1f));
    }

    /**
     * {@link #step(float[], float[], GsaState)} for B sequences whose states are held apart
     * ({@code states[b]}, batch 1 each): row b of {@code x} is sequence b's token. Same arithmetic.
     */
    public float[] step(float[] p, float[] x, GsaState[] states) {
        return step(p, x, states, null);
    }

    /** {@link #step(float[], float[], GsaState[])} with each sequence's convolution rows ({@code convRows[b]}, updated). */
    public float[] step(float[] p, float[] x, GsaState[] states, float[][] convRows) {
        return decodeStep(p, x, states.length, convRows, (q, k, v, s, g) -> GsaRecurrent.step(states, heads, q, k, v, s, g, 1f));
    }

    /**
     * A sequence's convolution rows before its first token: the last {@code taps − 1} projections of q, k and v,
     * oldest first, {@code [taps − 1, H·dk + Hkv·dk + Hkv·dv]}, all zero; null without short convolutions.
     */
    public float[] newConvRows() {
        return taps == 0 ? null : new float[(taps - 1) * convWidth()];
    }

    private int convWidth() {
        return heads * dk + kvHeads * dk + kvHeads * dv;
    }

    /** The operator's decode step on the projected rows; returns {@code o [B,H,V]}. */
    private interface OperatorStep {
        float[] run(float[] q, float[] k, float[] v, float[] s, float[] g);
    }

    private float[] decodeStep(float[] p, float[] x, int n, float[][] convRows, OperatorStep operator) {
        if (taps > 0 && convRows == null) throw new IllegalArgumentException("a student with short convolutions steps with their rows");
        float[] q = features(convolve(p, cq, project(p, wq, x, n), n, 1, convRows, 0));
        float[] k = features(convolve(p, ck, project(p, wk, x, n), n, 1, convRows, 1));
        float[] v = features(convolve(p, cv, project(p, wv, x, n), n, 1, convRows, 2));
        float[] fPre = project(p, wf, x, n);
        float[] g = new float[fPre.length], s = new float[fPre.length];
        gates(fPre, g, s);
        float[] o = operator.run(q, k, v, s, g);
        float[] a = silu(o);
        float[] y = new float[n * heads * dv], out = new float[n * d];
        RmsNorm.forward(y, 0, a, 0, p, gNorm.arrayOffset(), null, 0, n, heads * dv, GsaConfig.G_NORM_EPS);
        Linear.forward(out, 0, y, 0, p, wo.arrayOffset(), null, 0, n, heads * dv, d);
        return out;
    }

    @Override
    public void backward(Mixer.Pass mixerPass, float[] dOut, float[] dx, float[] p, float[] grads,
                         ParameterGroup trainable) {
        Pass f = (Pass) mixerPass;
        if (f.finalConvRows != null && taps > 0) {      // the kernels' gradient would miss the rows it continued from
            throw new IllegalStateException("backward of a pass that continued from convolution rows (decoding only)");
        }
        int n = f.batch * f.seqLen, width = heads * dv;
        // out = y Woᵀ
        float[] dy = new float[n * width];
        Linear.backward(dy, 0, grad(grads, wo, trainable), wo.arrayOffset(), null, 0, dOut, 0, f.y, 0, p, wo.arrayOffset(),
                n, width, d);
        // y = RMSNorm(a) ⊙ g_norm, a = silu(o)
        float[] da = new float[n * width];
        RmsNorm.backward(da, 0, grad(grads, gNorm, trainable), gNorm.arrayOffset(), dy, 0, f.a, 0, p, gNorm.arrayOffset(),
                f.rstd, 0, n, width);
        float[] dO = new float[n * width];
        Silu.backward(dO, 0, da, 0, f.o, 0, n * width);
        // The operator, then its inputs' activations.
        GsaGradients gg = GsaChunked.backward(f.op, dO, null);
        float[] dqPre = featuresBackward(gg.dq(), f.qPre, f.qConv, cq, p, grads, trainable, f.batch, f.seqLen);
        float[] dkPre = featuresBackward(gg.dk(), f.kPre, f.kConv, ck, p, grads, trainable, f.batch, f.seqLen);
        float[] dvPre = featuresBackward(gg.dv(), f.vPre, f.vConv, cv, p, grads, trainable, f.batch, f.seqLen);
        float[] dfPre = gatesBackward(gg.dg(), gg.ds(), f.op.inputs().g(), f.fPre);
        projectBackward(dx, grads, trainable, wq, dqPre, f.x, p, n);
        projectBackward(dx, grads, trainable, wk, dkPre, f.x, p, n);
        projectBackward(dx, grads, trainable, wv, dvPre, f.x, p, n);
        projectBackward(dx, grads, trainable, wf, dfPre, f.x, p, n);
    }

    // ------------------------------------------------------------------ the steps

    /** {@code x Wᵀ} for a {@code [rows, d]} x and the weight {@code w [out, d]}. */
    private float[] project(float[] p, ParameterView w, float[] x, int rows) {
        int out = (int) w.shape()[0];
        float[] y = new float[rows * out];
        Linear.forward(y, 0, x, 0, p, w.arrayOffset(), null, 0, rows, d, out);
        return y;
    }

    private void projectBackward(float[] dx, float[] grads, ParameterGroup trainable, ParameterView w, float[] dy,
                                 float[] x, float[] p, int rows) {
        float[] dw = grad(grads, w, trainable);
        if (dx == null && dw == null) return;
        Linear.backward(dx, 0, dw, w.arrayOffset(), null, 0, dy, 0, x, 0, p, w.arrayOffset(), rows, d, (int) w.shape()[0]);
    }

    /**
     * The short convolution of a projection ({@code [B·T, C]}), or the projection itself without one. With
     * {@code rows} (each sequence's last projections, {@link #newConvRows()}), each sequence continues from its
     * rows' part {@code which} (0 q, 1 k, 2 v), and that part is replaced by the sequence's new last rows.
     */
    private float[] convolve(float[] p, ParameterView w, float[] x, int batch, int seqLen, float[][] rows, int which) {
        if (w == null) return x;
        int channels = (int) w.shape()[0];
        float[] y = new float[x.length];
        if (rows == null) {
            ShortConv.forward(y, x, p, w.arrayOffset(), batch, seqLen, channels, taps);
            return y;
        }
        int history = taps - 1, width = convWidth(), from = which == 0 ? 0 : which == 1 ? heads * dk : heads * dk + kvHeads * dk;
        int extended = history + seqLen;
        for (int b = 0; b < batch; b++) {
            float[] ext = new float[extended * channels], out = new float[extended * channels];
            for (int r = 0; r < history; r++) System.arraycopy(rows[b], r * width + from, ext, r * channels, channels);
            System.arraycopy(x, b * seqLen * channels, ext, history * channels, seqLen * channels);
            ShortConv.forward(out, ext, p, w.arrayOffset(), 1, extended, channels, taps);
            System.arraycopy(out, history * channels, y, b * seqLen * channels, seqLen * channels);
            for (int r = 0; r < history; r++) System.arraycopy(ext, (seqLen + r) * channels, rows[b], r * width + from, channels);
        }
        return y;
    }

    /** The feature map on a (convolved) projection: silu, after the convolution's own silu when there is one. */
    private float[] features(float[] conv) {
        float[] y = silu(conv);
        return taps > 0 ? silu(y) : y;
    }

    /** The backward of {@link #features} and {@link #convolve}: the gradient of the projection {@code pre}. */
    private float[] featuresBackward(float[] d, float[] pre, float[] conv, ParameterView w, float[] p, float[] grads,
                                     ParameterGroup trainable, int batch, int seqLen) {
        if (w == null) return siluBackward(d, pre);
        float[] dConv = siluBackward(siluBackward(d, silu(conv)), conv);
        float[] dPre = new float[pre.length];
        float[] dw = grad(grads, w, trainable);
        ShortConv.backward(dPre, dw, w.arrayOffset(), dConv, pre, p, batch, seqLen, (int) w.shape()[0], taps);
        return dPre;
    }

    static float[] grad(float[] grads, ParameterView v, ParameterGroup trainable) {
        return trainable != null && trainable.contains(v) ? grads : null;
    }

    private static float[] silu(float[] x) {
        float[] y = new float[x.length];
        Silu.forward(y, 0, x, 0, x.length);
        return y;
    }

    private static float[] siluBackward(float[] dy, float[] x) {
        float[] dx = new float[x.length];
        Silu.backward(dx, 0, dy, 0, x, 0, x.length);
        return dx;
    }

    /** {@code g = logsigmoid(f)/τ} and {@code s = 1 − exp(g)}, each rounded to fp32 as torch computes them. */
    private void gates(float[] f, float[] g, float[] s) {
        Parallel.forRange(f.length, 4096, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                float ls = (float) logSigmoid(f[i]);
                g[i] = ls / tau;
                s[i] = 1f - (float) Math.exp(g[i]);
            }
        });
    }

    /** {@code df = (dg − ds·exp(g)) / τ · σ(−f)}: s = 1 − exp(g) feeds the gradient of g too. */
    private float[] gatesBackward(float[] dg, float[] ds, float[] g, float[] f) {
        float[] df = new float[f.length];
        Parallel.forRange(f.length, 4096, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                double total = dg[i] - (double) ds[i] * Math.exp(g[i]);
                df[i] = (float) (total / tau * sigmoid(-f[i]));
            }
        });
        return df;
    }

    /** {@code log σ(x) = min(x, 0) − log1p(exp(−|x|))}, stable for any x. */
    static double logSigmoid(double x) {
        return Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
    }

    static double sigmoid(double x) {
        return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }
}
