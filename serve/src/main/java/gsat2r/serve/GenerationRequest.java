package gsat2r.serve;

import java.util.List;

/**
 * A validated request, ready for the scheduler: the prompt's token ids and what to generate after them.
 *
 * @param chat         a chat completion (else a text completion)
 * @param promptIds    the prompt as the model is fed it (BOS included when the tokenizer adds it)
 * @param echoText     for a completion with {@code echo}: the prompt's text, sent before the new text; else null
 * @param maxTokens    at most this many new tokens per choice (0: none)
 * @param n            choices to generate for the prompt
 * @param stops        texts that end a choice, not included in it
 * @param includeUsage a stream ends with a chunk carrying the token counts ({@code stream_options.include_usage})
 * @param logprobs     -1: no log-probabilities; else each sampled token's, with this many of the most likely tokens
 *                     at its position
 * @param promptLogprobs the prompt's tokens' log-probabilities too (a completion with {@code echo} and {@code logprobs})
 */
record GenerationRequest(boolean chat, int[] promptIds, String echoText, int maxTokens, int n, Sampling sampling,
                         List<String> stops, boolean stream, boolean includeUsage, int logprobs, boolean promptLogprobs) {
    GenerationRequest {
        promptIds = promptIds.clone();
        stops = List.copyOf(stops);
    }
}
