package gsat2r.serve;

import java.util.List;

/** What the scheduler tells the HTTP side of a request, in order, through the request's {@link Job}. */
sealed interface Event {

    /**
     * New text of choice {@code choice} (never empty), with the log-probabilities of the tokens sampled since the last
     * text (empty when the request asked for none; a token whose text is held back, an unfinished character or the
     * start of a stop string, comes with the text it ends up in).
     */
    record Text(int choice, String text, List<TokenLogprob> logprobs) implements Event {}

    /**
     * Choice {@code choice} is complete: {@code reason} is OpenAI's finish_reason, {@code "stop"} or {@code "length"};
     * {@code logprobs}: those of the tokens sampled after the last text (the end-of-sequence token, the rest of a stop
     * string).
     */
    record Finish(int choice, String reason, List<TokenLogprob> logprobs) implements Event {}

    /** The prompt's tokens with their log-probabilities, the first one without ({@link TokenLogprob#none}): for echo. */
    record Prompt(List<TokenLogprob> logprobs) implements Event {}

    /**
     * Every choice is complete (the last event).
     *
     * @param cachedTokens prompt tokens whose state came from the prefix cache
     */
    record Done(int promptTokens, int completionTokens, int cachedTokens) implements Event {
        /** No tokens: what the usage of several prompts is summed from. */
        static final Done NONE = new Done(0, 0, 0);

        /** The usage of this prompt and {@code other} together. */
        Done plus(Done other) {
            return new Done(promptTokens + other.promptTokens, completionTokens + other.completionTokens, cachedTokens + other.cachedTokens);
        }
    }

    /** The request failed (the last event); the server goes on. */
    record Failed(ApiError error) implements Event {}
}
