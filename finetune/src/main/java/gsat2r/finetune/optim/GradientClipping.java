package gsat2r.finetune.optim;

/**
 * Global-norm gradient clipping as {@code torch.nn.utils.clip_grad_norm_} computes it: every gradient is
 * multiplied by {@code min(1, maxNorm / (norm + 1e-6))}; {@code maxNorm <= 0} switches clipping off.
 */
public final class GradientClipping {
    private GradientClipping() {}

    public static double factor(double norm, double maxNorm) {
        if (maxNorm <= 0) return 1.0;
        return Math.min(1.0, maxNorm / (norm + 1e-6));
    }
}
