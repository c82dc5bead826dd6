package gsat2r.core.model;

import java.util.List;

/**
 * A context and the continuations to score after it, as token ids: what one multiple-choice item asks of a
 * model (one context, a continuation per choice) or one window of a rolling log-likelihood (one
 * continuation). The model reads {@code context} followed by each continuation but its last token, and
 * scores the continuation's tokens (see {@link LanguageModel#scoreContinuations}).
 *
 * @param context       at least one token (BOS, when nothing else comes before)
 * @param continuations at least one, each at least one token
 */
public record Continuations(int[] context, List<int[]> continuations) {

    public Continuations {
        if (context.length == 0) throw new IllegalArgumentException("an empty context: score after BOS instead");
        if (continuations.isEmpty()) throw new IllegalArgumentException("no continuation to score");
        for (int[] c : continuations) {
            if (c.length == 0) throw new IllegalArgumentException("an empty continuation");
        }
        continuations = List.copyOf(continuations);
    }

    /** The tokens the model reads for continuation {@code i}: the context and the continuation but its last token. */
    public int[] input(int i) {
        int[] c = continuations.get(i);
        int[] in = java.util.Arrays.copyOf(context, context.length + c.length - 1);
        System.arraycopy(c, 0, in, context.length, c.length - 1);
        return in;
    }

    /** How a continuation scored. */
    public record Score(double logLikelihood, boolean greedy) {}
}
