package gsat2r.core.model.gsa;

import gsat2r.core.cpu.RmsNorm;
import gsat2r.core.model.gsa.ParameterView.Kind;

import java.util.ArrayList;
import java.util.List;

/**
 * One block of the student, pre-norm with two residuals as fla's {@code GSABlock}:
 * {@code h += mixer(attn_norm(h)); h += mlp(mlp_norm(h))}, on {@code h [B·T, d]}.
 */
final class Block {
    final int layer;
    final Mixer mixer;
    final GatedMlp mlp;
    private final int d;
    private final float eps;
    private final ParameterView attnNorm, mlpNorm;

    Block(GsaLayout layout, int layer) {
        this.layer = layer;
        this.d = layout.config().hiddenSize();
        this.eps = (float) layout.config().normEps();
        this.attnNorm = layout.get(Kind.ATTN_NORM, layer);
        this.mlpNorm = layout.get(Kind.MLP_NORM, layer);
        this.mixer = layout.config().isGsaLayer(layer) ? new GsaMixer(layout, layer) : new AttentionMixer(layout, layer);
        this.mlp = new GatedMlp(layout, layer);
    }

    List<ParameterView> views() {
        List<ParameterView> v = new ArrayList<>();
        v.add(attnNorm);
        v.addAll(mixer.views());
        v.add(mlpNorm);
        v.addAll(mlp.views());
        return v;
    }

    /** What backward needs: the block input, both norms' inputs and rstd, the mixer's and the MLP's passes. */
    record Pass(float[] hIn, float[] rstd1, float[] n1, Mixer.Pass mix, float[] hMid, float[] rstd2, float[] n2,
                GatedMlp.Pass mlp, float[] hOut) {}

    Pass forward(float[] p, float[] hIn, int batch, int seqLen) {
        int n = batch * seqLen;
        float[] rstd1 = new float[n], n1 = normed(p, attnNorm, hIn, rstd1, n);
        Mixer.Pass mix = mixer.forward(p, n1, batch, seqLen);
        float[] hMid = sum(hIn, mix.out());
        float[] rstd2 = new float[n], n2 = normed(p, mlpNorm, hMid, rstd2, n);
        GatedMlp.Pass m = mlp.forward(p, n2, n);
        return new Pass(hIn, rstd1, n1, mix, hMid, rstd2, n2, m, sum(hMid, m.out()));
    }

    /** {@code attn_norm(h)} of {@code rows} rows (for the decoder and for callers of the layer API). */
    float[] attnNorm(float[] p, float[] h, int rows) {
        return normed(p, attnNorm, h, null, rows);
    }

    float[] mlpNorm(float[] p, float[] h, int rows) {
        return normed(p, mlpNorm, h, null, rows);
    }

    /**
     * Backward from {@code dhOut = dL/d(block output)}: adds the gradients of the block's tensors in
     * {@code trainable} to {@code grads}; returns {@code dL/d(block input)} if {@code needInput}, else null.
     */
    float[] backward(Pass f, float[] dhOut, boolean needInput, float[] p, float[] grads, ParameterGroup trainable) {
        int n = f.hIn().length / d;
        boolean mixerBranch = needInput || trainable.contains(attnNorm) || mixer.views().stream().anyMatch(trainable::contains);
        boolean mlpBranch = mixerBranch || trainable.contains(mlpNorm);
        float[] dn2 = mlpBranch ? new float[n * d] : null;
        mlp.backward(f.mlp(), dhOut, dn2, p, grads, trainable);
        if (!mlpBranch) return null;
        float[] dhMid = mixerBranch ? dhOut.clone() : null;
        RmsNorm.backward(dhMid, 0, GsaMixer.grad(grads, mlpNorm, trainable), mlpNorm.arrayOffset(), dn2, 0, f.hMid(), 0, p,
                mlpNorm.arrayOffset(), f.rstd2(), 0, n, d);
        if (!mixerBranch) return null;
        boolean normBranch = needInput || trainable.contains(attnNorm);
        float[] dn1 = normBranch ? new float[n * d] : null;
        mixer.backward(f.mix(), dhMid, dn1, p, grads, trainable);
        if (!normBranch) return null;
        float[] dhIn = needInput ? dhMid : null;
        RmsNorm.backward(dhIn, 0, GsaMixer.grad(grads, attnNorm, trainable), attnNorm.arrayOffset(), dn1, 0, f.hIn(), 0, p,
                attnNorm.arrayOffset(), f.rstd1(), 0, n, d);
        return dhIn;
    }

    private float[] normed(float[] p, ParameterView w, float[] h, float[] rstd, int rows) {
        float[] y = new float[rows * d];
        RmsNorm.forward(y, 0, h, 0, p, w.arrayOffset(), rstd, 0, rows, d, eps);
        return y;
    }

    static float[] sum(float[] a, float[] b) {
        float[] s = new float[a.length];
        for (int i = 0; i < s.length; i++) s[i] = a[i] + b[i];
        return s;
    }
}
