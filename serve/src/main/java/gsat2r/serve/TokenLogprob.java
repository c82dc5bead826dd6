package gsat2r.serve;

import gsat2r.core.cpu.LogitLosses;

import java.util.Arrays;

/**
 * One token's log-probability under the model at its position, {@code log softmax(logits)[id]} in double of the
 * model's own logits (before temperature, penalties or bias: vLLM's default "raw" logprobs, what lm-evaluation-harness
 * scores), and the {@code top} most likely tokens there, most likely first (ties: the lower id first, as argmax).
 * The first token of a prompt has no position before it: {@link #none}.
 */
record TokenLogprob(int id, double logprob, int[] topIds, double[] topLogprobs) {

    /** The log-probability of {@code id} after {@code logits}, with the {@code top} most likely tokens. */
    static TokenLogprob of(float[] logits, int id, int top) {
        double lse = LogitLosses.logSumExp(logits, 0, logits.length);
        int[] ids = topIds(logits, Math.min(top, logits.length));
        double[] lps = new double[ids.length];
        for (int i = 0; i < ids.length; i++) lps[i] = logits[ids[i]] - lse;
        return new TokenLogprob(id, logits[id] - lse, ids, lps);
    }

    /** A token with no log-probability: the first of a prompt. */
    static TokenLogprob none(int id) {
        return new TokenLogprob(id, Double.NaN, null, null);
    }

    boolean hasLogprob() {
        return topIds != null;
    }

    /** The indices of the k largest logits, largest first, the lower index first among equals. */
    static int[] topIds(float[] logits, int k) {
        if (k == 0) return new int[0];
        int[] best = new int[k];
        int size = 0;
        for (int j = 0; j < logits.length; j++) {
            if (size == k && !(logits[j] > logits[best[k - 1]])) continue;
            int at = size == k ? k - 1 : size++;
            while (at > 0 && logits[j] > logits[best[at - 1]]) {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = j;
        }
        return Arrays.copyOf(best, size);
    }
}
