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

    @Override
    default void close() {}

    /** Incremental decoding state of one sequence. */
    interface Decoder {
        /** Feeds the prompt; returns the logits after its last token. */
        float[] prefill(int[] ids);

        /** Feeds one token; returns the logits that predict the next one. */
        float[] next(int id);

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
    }
}
