package gsat2r.core.generate;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.StreamingDecoder;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Autoregressive generation: feeds the prompt to a fresh {@link LanguageModel.Decoder}, then samples
 * one token at a time until an end-of-sequence id, a stop string or the token budget, streaming the new text to a
 * callback as whole characters (see {@link StreamingDecoder}).
 */
public final class Generator {

    /** Why generation stopped. */
    public enum Stop {
        EOS, STOP_STRING, MAX_NEW_TOKENS,
        /** The generating thread was interrupted (its interrupt flag is left set): e.g. {@code Future.cancel(true)}. */
        INTERRUPTED
    }

    /**
     * @param promptIds the prompt as fed to the model
     * @param newIds    the sampled ids: the end-of-sequence id included when that is why it stopped (EOS wins when the
     *                  text it flushes completes a stop string), and up to the token after which a stop string was found
     *                  (the one that completed it, or for a character spelled in byte pieces the token after them)
     * @param text      the new tokens' text, as the continuation of the prompt (what the callback got): up to the stop
     *                  string, which is left out
     */
    public record Result(int[] promptIds, int[] newIds, String text, Stop stop) {
        public Result {
            promptIds = promptIds.clone();
            newIds = newIds.clone();
        }

        @Override
        public int[] promptIds() {
            return promptIds.clone();
        }

        @Override
        public int[] newIds() {
            return newIds.clone();
        }

        /** Prompt then new ids. */
        public int[] allIds() {
            int[] all = Arrays.copyOf(promptIds, promptIds.length + newIds.length);
            System.arraycopy(newIds, 0, all, promptIds.length, newIds.length);
            return all;
        }
    }

    private final LanguageModel model;
    private final Tokenizer tokenizer;

    public Generator(LanguageModel model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /**
     * Generates up to {@code maxNewTokens} tokens after {@code promptIds}, stopping early at any of
     * the tokenizer's {@link Tokenizer#eosIds() EOS ids} (that id is kept in {@code newIds}, its text
     * is not emitted). Each text increment goes to {@code onText} as soon as it is whole.
     */
    public Result generate(int[] promptIds, int maxNewTokens, Sampler sampler, Consumer<String> onText) {
        if (promptIds.length == 0) throw new T2rException("the prompt is empty: there is no token to start from");
        if (maxNewTokens < 0) throw new IllegalArgumentException("maxNewTokens < 0: " + maxNewTokens);
        int vocab = model.vocabSize();
        for (int id : promptIds) {
            if (id < 0 || id >= vocab) {
                throw new T2rException("prompt token id " + id + " is outside the model's vocabulary (size " + vocab + ")");
            }
        }
        if (maxNewTokens == 0) return continueFrom(null, promptIds, null, 0, sampler, onText);
        LanguageModel.Decoder decoder = model.newDecoder();
        return continueFrom(decoder, promptIds, decoder.prefill(promptIds), maxNewTokens, sampler, onText);
    }

    /**
     * The sampling loop on its own, for a decoder that has already consumed {@code context} and whose
     * next-token logits are {@code logits} (a restored state, a session): samples up to
     * {@code maxNewTokens} tokens, feeding each to {@code decoder} except the last one sampled (a caller
     * that goes on must feed it first). {@code Result.promptIds} is {@code context}; the text streams as
     * the continuation of {@code context}.
     */
    public Result continueFrom(LanguageModel.Decoder decoder, int[] context, float[] logits, int maxNewTokens,
                               Sampler sampler, Consumer<String> onText) {
        return continueFrom(decoder, context, logits, maxNewTokens, sampler, onText, id -> { });
    }

    /**
     * {@link #continueFrom(LanguageModel.Decoder, int[], float[], int, Sampler, Consumer)}, telling {@code onToken} of each
     * token as soon as it is sampled (before its text streams and before it is fed): a caller that keeps its own record
     * of the sequence stays in step with the decoder even when {@code onText} throws to stop early.
     */
    public Result continueFrom(LanguageModel.Decoder decoder, int[] context, float[] logits, int maxNewTokens,
                               Sampler sampler, Consumer<String> onText, IntConsumer onToken) {
        return continueFrom(decoder, context, logits, maxNewTokens, sampler, List.of(), onText, onToken);
    }

    /**
     * The same, also stopping at the first of {@code stops} in the new text (as OpenAI's {@code stop}: the stop string
     * and what follows it are not part of the text; text that may begin one is held back until it cannot). An interrupt
     * of the calling thread stops it before the next token ({@link Stop#INTERRUPTED}), the text held back released.
     */
    public Result continueFrom(LanguageModel.Decoder decoder, int[] context, float[] logits, int maxNewTokens,
                               Sampler sampler, List<String> stops, Consumer<String> onText,
                               IntConsumer onToken) {
        if (maxNewTokens < 0) throw new IllegalArgumentException("maxNewTokens < 0: " + maxNewTokens);
        if (stops.stream().anyMatch(String::isEmpty)) throw new T2rException("a stop string is empty");
        int vocab = model.vocabSize();
        StreamingDecoder text = new StreamingDecoder(tokenizer, context);
        StopText stop = new StopText(stops);
        StringBuilder kept = new StringBuilder();
        Consumer<String> release = piece -> {
            kept.append(piece);
            emit(piece, onText);
        };
        int[] out = new int[maxNewTokens];
        int[] history = Arrays.copyOf(context, context.length + maxNewTokens);      // what a repetition penalty sees
        int n = 0;
        Stop why = Stop.MAX_NEW_TOKENS;
        if (maxNewTokens > 0) {
            while (true) {
                checkRow(logits, vocab, decoder.position());
                int id = sampler.sample(logits, history, context.length + n);
                history[context.length + n] = id;
                out[n++] = id;
                onToken.accept(id);
                if (tokenizer.isEos(id)) {
                    why = Stop.EOS;
                    break;
                }
                release.accept(stop.push(text.push(id)));
                if (stop.stopped()) {
                    why = Stop.STOP_STRING;
                    break;
                }
                if (n == maxNewTokens) break;
                if (Thread.currentThread().isInterrupted()) {
                    why = Stop.INTERRUPTED;
                    break;
                }
                logits = decoder.next(id);          // only when another token is wanted
            }
        }
        release.accept(stop.end(text.finish()));
        if (stop.stopped() && why != Stop.EOS) why = Stop.STOP_STRING;     // perhaps completed by a character held back until now
        return new Result(context, Arrays.copyOf(out, n), kept.toString(), why);
    }

    private static void emit(String increment, Consumer<String> onText) {
        if (!increment.isEmpty()) onText.accept(increment);
    }

    private static void checkRow(float[] logits, int vocab, int position) {
        if (logits == null || logits.length != vocab) {
            throw new IllegalStateException("the model returned " + (logits == null ? "no logits" : logits.length + " logits")
                    + " at position " + position + ", expected " + vocab);
        }
    }
}
