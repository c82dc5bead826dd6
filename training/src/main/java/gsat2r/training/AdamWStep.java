package gsat2r.training;

/**
 * One AdamW update of every trainable parameter, as {@code torch.optim.AdamW} computes it (and the CUDA
 * kernel {@code adamw_f32}), on fp32 master weights:
 * <pre>
 * g = gradient · gradScale                       (gradScale: the clipping factor, 1 when not clipped)
 * m = β1·m + (1 − β1)·g          v = β2·v + (1 − β2)·g²
 * p = p·(1 − lr·λ) − lr/(1 − β1^step) · m / (sqrt(v)/sqrt(1 − β2^step) + ε)
 * </pre>
 * with λ = {@code weightDecay} for parameters of rank ≥ 2 (projection matrices, embeddings, the head,
 * LoRA factors) and λ = 0 for rank-1 parameters (RMSNorm gains such as {@code g_norm}, biases): decay
 * pulls weights toward zero, which for a gain means toward switching the layer off. See
 * {@link #decays(ParameterInfo)}. {@code step} counts from 1 within the stage (each stage starts fresh
 * moments, because its trainable set differs).
 *
 * <p>The short convolutions' kernels ({@code *_conv1d.weight}) take {@code lr · convLrScale}, a parameter group
 * of their own as PyTorch would make it: {@link #of(ParameterInfo)} is each tensor's update. A kernel that must
 * grow a tap from 0 to 1 needs about 1/lr steps at the shared rate.
 */
public record AdamWStep(long step, double lr, double beta1, double beta2, double eps, double weightDecay, double gradScale,
                        double convLrScale) {

    public AdamWStep {
        if (step < 1) throw new IllegalArgumentException("AdamW steps count from 1, got " + step);
        if (!(convLrScale > 0) || !Double.isFinite(convLrScale)) {
            throw new IllegalArgumentException("the convolutions' learning-rate scale must be positive, got " + convLrScale);
        }
    }

    /** Every tensor at {@code lr}. */
    public AdamWStep(long step, double lr, double beta1, double beta2, double eps, double weightDecay, double gradScale) {
        this(step, lr, beta1, beta2, eps, weightDecay, gradScale, 1.0);
    }

    /** Whether {@code p} is a short convolution's kernel (fla's {@code q_conv1d}, {@code k_conv1d}, {@code v_conv1d}). */
    public static boolean isConvolution(ParameterInfo p) {
        return p.name().endsWith("_conv1d.weight");
    }

    /** The update of tensor {@code p}: this one, at the convolutions' rate for their kernels. */
    public AdamWStep of(ParameterInfo p) {
        return isConvolution(p) && convLrScale != 1 ? new AdamWStep(step, lr * convLrScale, beta1, beta2, eps, weightDecay, gradScale, 1.0)
                : this;
    }

    /** The weight-decay rule: only parameters of rank 2 or more decay. */
    public static boolean decays(ParameterInfo p) {
        return p.rank() >= 2;
    }

    /** The decay factor λ for parameter {@code p}. */
    public double weightDecayOf(ParameterInfo p) {
        return decays(p) ? weightDecay : 0.0;
    }
}
