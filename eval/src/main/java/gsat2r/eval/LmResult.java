package gsat2r.eval;

import java.util.List;

/**
 * What {@link LanguageModelingTask} measured. NLLs are mean negative log-likelihoods in nats per
 * predicted token; {@code kl} is the mean {@code KL(teacher ‖ student)} in nats per token.
 *
 * @param context         tokens per window
 * @param documents       documents scored (after {@code --max-tokens})
 * @param documentsWindowed documents longer than the context, hence cut into windows
 * @param windows         model runs per model
 * @param tokens          predicted tokens
 * @param truncated       whether {@code --max-tokens} left some of the data out
 */
public record LmResult(int context, int documents, int documentsWindowed, int windows, long tokens, boolean truncated,
                       double teacherNll, double teacherPerplexity, double studentNll, double studentPerplexity,
                       double kl, double top1Agreement, List<PositionBucket> byPosition) {

    /**
     * Predictions made after reading between {@code contextFrom} and {@code contextTo} tokens of their
     * window; {@code meanContext} is the mean of those counts over the bucket's tokens (where it is plotted).
     */
    public record PositionBucket(int contextFrom, int contextTo, long tokens, double meanContext, double kl,
                                 double top1Agreement, double teacherNll, double studentNll) {}
}
