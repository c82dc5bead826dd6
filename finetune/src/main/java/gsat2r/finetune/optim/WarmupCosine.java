package gsat2r.finetune.optim;

/**
 * The learning rate of step n (n = 1 .. total, the step being taken) of a stage: linear warmup over the
 * first {@code warmup} steps, then a half cosine from the peak down to {@code peak · minRatio} at the
 * last step:
 * <pre>
 * n ≤ W:   lr = peak · n / W
 * n > W:   lr = min + (peak − min) · (1 + cos(π · (n − W) / (total − W))) / 2,     min = peak · minRatio
 * </pre>
 * The first step already gets {@code peak / W} (never 0: a step at lr 0 would be wasted), the peak is
 * reached at step W, and the last step runs at exactly {@code min}.
 */
public record WarmupCosine(double peak, long warmup, long total, double minRatio) {

    public WarmupCosine {
        if (total < 1) throw new IllegalArgumentException("a stage has at least one step");
        if (warmup < 0 || warmup >= total && total > 1) {
            throw new IllegalArgumentException("warmup " + warmup + " must be in [0, " + total + ")");
        }
        if (!(peak > 0)) throw new IllegalArgumentException("peak lr must be > 0");
        if (!(minRatio >= 0 && minRatio <= 1)) throw new IllegalArgumentException("min lr ratio must be in [0, 1]");
    }

    public double lr(long n) {
        if (n < 1 || n > total) throw new IllegalArgumentException("step " + n + " outside [1, " + total + "]");
        if (n <= warmup) return peak * n / warmup;
        double min = peak * minRatio;
        double progress = (double) (n - warmup) / (total - warmup);
        return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
}
