package gsat2r.serve;

import java.util.List;

/**
 * How a chat request's messages become the prompt that the model continues: the plain transcript
 * ({@link TranscriptChatFormat}) for a model without a chat template, or a renderer of the model's Hugging Face
 * chat template (the CLI's, which {@code t2r serve} uses when the model has one).
 */
public interface ChatFormat {

    /**
     * A rendered conversation.
     *
     * @param text             the prompt, ending where the assistant's reply begins
     * @param addSpecialTokens whether the tokenizer adds its special tokens (BOS) when encoding it; false for a
     *                         template that writes them itself, as Hugging Face's {@code apply_chat_template} does
     * @param stops            texts that end the reply besides the request's own {@code stop} (e.g. the start of
     *                         the next turn in a transcript); not included in the reply
     */
    record Prompt(String text, boolean addSpecialTokens, List<String> stops) {
        public Prompt {
            stops = List.copyOf(stops);
        }
    }

    /**
     * The prompt for {@code messages} (at least one), ready for the assistant's reply; an
     * {@link IllegalArgumentException} (its message one line) for a conversation the format refuses, which the
     * client gets as a 400.
     */
    Prompt render(List<ChatMessage> messages);

    /** The Jinja source of the chat template it renders (what {@code /tokenizer_info} gives clients), or null. */
    default String template() {
        return null;
    }

    /** What the server's startup line says about it, e.g. "plain transcript". */
    String describe();
}
