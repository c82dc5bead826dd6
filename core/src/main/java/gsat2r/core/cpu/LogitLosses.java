package gsat2r.core.cpu;

/**
 * Losses on a block of logits {@code [rows, vocab]} (row-major), returning the summed loss and adding
 * its gradient with respect to the logits. Every row is evaluated in double with the log-sum-exp trick
 * (the maximum subtracted before exponentiating), so large logits neither overflow nor lose the small
 * probabilities. Returned losses are sums over rows; the caller divides (and passes the matching
 * {@code gradScale}, e.g. {@code 1/rows} for a mean), which keeps these ops free of batching policy.
 */
public final class LogitLosses {
    private LogitLosses() {}

    /** Rows whose target is negative (Hugging Face's {@code ignore_index = -100}) add no loss and no gradient. */
    public static final int IGNORE = -100;

    /** {@code log Σ_j exp(x_j)} over {@code x[off .. off+n)}, in double. */
    public static double logSumExp(float[] x, int off, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) max = Math.max(max, x[off + j]);
        if (max == Double.NEGATIVE_INFINITY) return max;
        double sum = 0;
        for (int j = 0; j < n; j++) sum += Math.exp(x[off + j] - max);
        return max + Math.log(sum);
    }

    /**
     * Softmax cross-entropy {@code Σ_rows (logsumexp(z) − z[target])}, rows with a negative target skipped.
     * If {@code dlogits} is not null, adds {@code gradScale · (softmax(z) − onehot(target))} to it.
     */
    public static double crossEntropy(float[] logits, int off, int rows, int vocab, int[] targets, int targetsOff,
                                      float[] dlogits, int dOff, float gradScale) {
        double[] loss = new double[rows];
        Parallel.forRange(rows, 1, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int target = targets[targetsOff + r];
                if (target < 0) continue;
                if (target >= vocab) {
                    throw new IllegalArgumentException("target " + target + " is outside the vocabulary [0, " + vocab + ")");
                }
                int o = off + r * vocab;
                double lse = logSumExp(logits, o, vocab);
                loss[r] = lse - logits[o + target];
                if (dlogits != null) {
                    int d = dOff + r * vocab;
                    for (int j = 0; j < vocab; j++) {
                        double p = Math.exp(logits[o + j] - lse);
                        dlogits[d + j] += (float) (gradScale * (j == target ? p - 1.0 : p));
                    }
                }
            }
        });
        return sumInOrder(loss);
    }

    /**
     * Distillation loss {@code Σ_rows KL(p ‖ q)} with {@code p = softmax(teacher/τ)} and
     * {@code q = softmax(student/τ)}: {@code Σ_j p_j (log p_j − log q_j)}. If {@code dStudent} is not null,
     * adds {@code gradScale · (q − p)/τ} (the gradient with respect to the student logits) to it. The
     * customary τ² factor that keeps gradient sizes comparable across temperatures is the caller's choice
     * (fold it into {@code gradScale} and the returned loss).
     */
    public static double klDivergence(float[] teacher, int tOff, float[] student, int sOff, int rows, int vocab,
                                      float temperature, float[] dStudent, int dOff, float gradScale) {
        if (!(temperature > 0)) throw new IllegalArgumentException("temperature must be positive, got " + temperature);
        double[] loss = new double[rows];
        double invTau = 1.0 / temperature;
        Parallel.forRange(rows, 1, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int to = tOff + r * vocab, so = sOff + r * vocab;
                double tMax = Double.NEGATIVE_INFINITY, sMax = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < vocab; j++) {
                    tMax = Math.max(tMax, teacher[to + j] * invTau);
                    sMax = Math.max(sMax, student[so + j] * invTau);
                }
                double tSum = 0, sSum = 0;
                for (int j = 0; j < vocab; j++) {
                    tSum += Math.exp(teacher[to + j] * invTau - tMax);
                    sSum += Math.exp(student[so + j] * invTau - sMax);
                }
                double tLse = tMax + Math.log(tSum), sLse = sMax + Math.log(sSum);
                double kl = 0;
                for (int j = 0; j < vocab; j++) {
                    double logP = teacher[to + j] * invTau - tLse;
                    double logQ = student[so + j] * invTau - sLse;
                    double p = Math.exp(logP);
                    if (p > 0) kl += p * (logP - logQ); // p log p → 0 as p → 0
                    if (dStudent != null) {
                        dStudent[dOff + r * vocab + j] += (float) (gradScale * (Math.exp(logQ) - p) * invTau);
                    }
                }
                loss[r] = kl;
            }
        });
        return sumInOrder(loss);
    }

    /** Rows where the student's most likely token is the teacher's (the first maximum on ties). */
    public static long agreements(float[] student, float[] teacher, int rows, int vocab) {
        long agree = 0;
        for (int r = 0; r < rows; r++) if (argmax(student, r * vocab, vocab) == argmax(teacher, r * vocab, vocab)) agree++;
        return agree;
    }

    private static int argmax(float[] z, int off, int n) {
        int best = 0;
        for (int j = 1; j < n; j++) if (z[off + j] > z[off + best]) best = j;
        return best;
    }

    private static double sumInOrder(double[] xs) {
        double s = 0;
        for (double x : xs) s += x;
        return s;
    }
}
