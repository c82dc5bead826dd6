package gsat2r.serve;

import gsat2r.core.cpu.LogitLosses;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One token's log-probability under the model at its position, {@code log softmax(logits)[id]} in double of the
 * model's own logits (before temperature, penalties or bias: vLLM's default "raw" logprobs, what lm-evaluation-harness
 * scores), and the most likely tokens there, most likely first (ties: the lower id first, as argmax). The first token
 * of a prompt has no position before it: {@link #none}.
 *
 * @param top null for {@link #none}
 */
record TokenLogprob(int id, double logprob, List<Alternative> top) {

    /** One of the most likely tokens at a position. */
    record Alternative(int id, double logprob) {}

    TokenLogprob {
        top = top == null ? null : List.copyOf(top);
    }

    /** The log-probability of {@code id} after {@code logits}, with the {@code top} most likely tokens. */
    static TokenLogprob of(float[] logits, int id, int top) {
        return Position.of(logits, top).token(logits, id);
    }

    /**
     * What a position's log-probabilities need before the token is known (the passes over the vocabulary), so that the
     * positions of a decode step are reduced side by side while the tokens are still sampled one after another.
     */
    record Position(double logSumExp, List<Alternative> top) {
        static Position of(float[] logits, int top) {
            double lse = LogitLosses.logSumExp(logits, 0, logits.length);
            List<Alternative> alternatives = new ArrayList<>(top);
            for (int j : topIds(logits, Math.min(top, logits.length))) alternatives.add(new Alternative(j, logits[j] - lse));
            return new Position(lse, alternatives);
        }

        TokenLogprob token(float[] logits, int id) {
            return new TokenLogprob(id, logits[id] - logSumExp, top);
        }
    }

    /** A token with no log-probability: the first of a prompt. */
    static TokenLogprob none(int id) {
        return new TokenLogprob(id, Double.NaN, null);
    }

    boolean hasLogprob() {
        return top != null;
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
