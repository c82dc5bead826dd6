package gsat2r.training.optim;

import gsat2r.training.AdamWStep;

/**
 * AdamW on fp32 arrays for CPU backends: the arithmetic of {@code torch.optim.AdamW} and of the CUDA
 * kernel {@code adamw_f32} (same operations in the same order, in fp32):
 * <pre>
 * g  = grad · gradScale
 * m  = β1·m + (1 − β1)·g            v = β2·v + (1 − β2)·g·g
 * p  = p·(1 − lr·λ) − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + ε)       bc1 = 1 − β1^t, bc2 = 1 − β2^t
 * </pre>
 * The scalars (1 − β, 1 − lr·λ, the bias corrections) are computed in double and rounded to fp32 once,
 * as PyTorch does when it hands Python floats to its kernels; the per-element arithmetic is fp32.
 */
public final class AdamW {
    private AdamW() {}

    /**
     * Updates {@code param[off .. off+n)} and its moments from {@code grad}; λ is {@code weightDecay}
     * (the caller applies the decay rule, {@link AdamWStep#weightDecayOf}).
     */
    public static void update(float[] param, float[] grad, float[] m, float[] v, int off, int n, AdamWStep s, double weightDecay) {
        update(param, off, grad, off, m, v, off, n, s, weightDecay);
    }

    /**
     * The same update of {@code param[pOff .. pOff+n)} from {@code grad[gOff ..]} with moments
     * {@code m[mOff ..]}, {@code v[mOff ..]}: for a shard of the optimizer state that holds the moments of
     * a part of the parameters only (ZeRO stage 1). Element for element the same arithmetic.
     */
    public static void update(float[] param, int pOff, float[] grad, int gOff, float[] m, float[] v, int mOff, int n,
                              AdamWStep s, double weightDecay) {
        float beta1 = (float) s.beta1(), beta2 = (float) s.beta2(), eps = (float) s.eps();
        float clip = (float) s.gradScale();
        float lr = (float) s.lr();
        float bc1 = (float) (1.0 - Math.pow(s.beta1(), s.step()));
        float bc2 = (float) (1.0 - Math.pow(s.beta2(), s.step()));
        float stepSize = lr / bc1;
        float sqrtBc2 = (float) Math.sqrt(bc2);
        float decay = (float) (1.0 - s.lr() * weightDecay);
        float oneMinusBeta1 = (float) (1.0 - s.beta1()), oneMinusBeta2 = (float) (1.0 - s.beta2());
        for (int i = 0; i < n; i++) {
            int p = pOff + i, j = mOff + i;
            float g = grad[gOff + i] * clip;
            float mi = beta1 * m[j] + oneMinusBeta1 * g;
            float vi = beta2 * v[j] + oneMinusBeta2 * g * g;
            m[j] = mi;
            v[j] = vi;
            param[p] = param[p] * decay - stepSize * mi / ((float) Math.sqrt(vi) / sqrtBc2 + eps);
        }
    }
}
