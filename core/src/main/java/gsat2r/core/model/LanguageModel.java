package gsat2r.core.model;

/**
 * A causal language model that the CLI, the evaluator and the trainer can score text with:
 * a softmax-attention teacher (Llama, Mistral) or a GSA student, on any backend.
 */
public interface LanguageModel extends AutoCloseable {

    int vocabSize();

    /** Logits for every position of {@code ids}: {@code [ids.length][vocabSize]}, fp32. */
    float[][] forward(int[] ids);

    /**
     * A fresh incremental decoder (KV cache for attention layers, constant-size recurrent state
     * for GSA layers). Decoding token by token must give {@link #forward}'s logits.
     */
    Decoder newDecoder();

    /**
     * Decodes several of this model's decoders together, one token each per step (see {@link BatchDecoder}).
     * The default steps them one after another; a model whose arithmetic gains from a batch (one pass over
     * the weights for every sequence) overrides it.
     */
    default BatchDecoder batchDecoder() {
        return BatchDecoder.sequential();
    }

    /**
     * What identifies this model's computation (see {@link ModelFingerprint}); a saved
     * {@link DecoderState} is only restored into a model with the same fingerprint. Computed anew on
     * each call (it hashes the weights).
     */
    default ModelFingerprint fingerprint() {
        throw new gsat2r.core.T2rException(getClass().getSimpleName() + " has no fingerprint: its decoding state cannot be saved");
    }

    /**
     * Log-likelihoods of continuations: for each request, the sum over each continuation's tokens of
     * {@code log softmax} of the model's logits at the position before it (the context, then the
     * continuation's earlier tokens, as input), and whether every one of those tokens is the most likely
     * there (lm-evaluation-harness's {@code is_greedy}). One result array per request, one score per
     * continuation, in order.
     *
     * <p>What multiple-choice evaluation spends its time on. The default reads each context once and forks
     * the decoding state for its continuations ({@link ContinuationScorer}); a GPU model should instead run
     * a batch of requests as one padded forward and reduce the logits to these scalars on the device, so
     * that no row of vocabulary-size logits crosses to the host.
     */
    default java.util.List<Continuations.Score[]> scoreContinuations(java.util.List<Continuations> batch) {
        return ContinuationScorer.score(this, batch);
    }

    @Override
    default void close() {}

    /** Incremental decoding state of one sequence. */
    interface Decoder {
        /** Feeds the prompt; returns the logits after its last token. */
        float[] prefill(int[] ids);

        /** Feeds one token; returns the logits that predict the next one. */
        float[] next(int id);

        /**
         * Feeds the tokens and returns the logits after each of them, {@code [ids.length][vocabSize]}: what scoring
         * a continuation from a saved state needs. The default feeds them one at a time; models override it with
         * one multi-token pass.
         */
        default float[][] prefillAll(int[] ids) {
            float[][] rows = new float[ids.length][];
            for (int i = 0; i < ids.length; i++) rows[i] = i == 0 ? prefill(new int[] {ids[0]}) : next(ids[i]);
            return rows;
        }

        /** Number of tokens fed so far. */
        int position();

        /**
         * Bytes of decoding state this decoder holds now (the KV cache of attention layers as allocated,
         * the recurrent state of GSA layers), or -1 when the model does not say. What {@code t2r eval}
         * compares: a KV cache grows with the context, a recurrent state does not.
         */
        default long stateBytes() {
            return -1;
        }

        /** A copy of this decoder's state (see {@link DecoderState}); the decoder goes on unchanged. */
        default DecoderState saveState() {
            throw new gsat2r.core.T2rException(getClass().getSimpleName() + " cannot save its decoding state");
        }

        /**
         * Replaces this decoder's state with {@code state}, taken from a decoder of the same model
         * (same layers and sizes, else a {@link gsat2r.core.T2rException} says what differs). The
         * decoder then continues as the one the state was taken from.
         */
        default void restoreState(DecoderState state) {
            throw new gsat2r.core.T2rException(getClass().getSimpleName() + " cannot restore a decoding state");
        }

        /**
         * Gives back now what this decoder holds outside the Java heap (a GPU model's device memory: its KV caches
         * and recurrent states), which would otherwise go back only after the decoder is collected. The decoder must
         * not be used after; a second call does nothing. The CPU decoders hold nothing but heap.
         */
        default void release() {}
    }
}
