package gsat2r.eval;

import gsat2r.core.cpu.LogitLosses;

/**
 * What the tasks compute from a row of logits, in double: log-probabilities through the log-sum-exp
 * (the maximum subtracted first), the argmax (the lowest id on a tie, as {@code torch.argmax}), and
 * the KL divergence of two next-token distributions.
 */
final class TokenMath {
    private TokenMath() {}

    static double logSumExp(float[] logits) {
        return LogitLosses.logSumExp(logits, 0, logits.length);
    }

    /** {@code log softmax(logits)[id]}. */
    static double logProb(float[] logits, int id) {
        return logits[id] - logSumExp(logits);
    }

    static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /**
     * {@code KL(p ‖ q) = Σ_j p_j (log p_j − log q_j)} with {@code p = softmax(p)}, {@code q = softmax(q)}
     * (nats). Terms with {@code p_j = 0} add nothing; identical rows give exactly 0.
     */
    static double kl(float[] p, double pLse, float[] q, double qLse) {
        double kl = 0;
        for (int j = 0; j < p.length; j++) {
            double logP = p[j] - pLse;
            double prob = Math.exp(logP);
            if (prob > 0) kl += prob * (logP - (q[j] - qLse));
        }
        return Math.max(0, kl);
    }
}
