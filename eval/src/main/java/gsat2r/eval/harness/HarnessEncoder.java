package gsat2r.eval.harness;

import gsat2r.core.T2rException;
import gsat2r.core.model.Continuations;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Text to tokens as lm-evaluation-harness's Hugging Face model ({@code HFLM}) makes them at
 * {@link HarnessTasks#HARNESS_COMMIT}. A (context, continuation) pair: trailing whitespace of the context moves
 * to the continuation, the continuation's tokens are those of {@code encode(context + continuation)} after the
 * first {@code len(encode(context))}, and when the two together exceed {@code maxLength + 1} tokens the context
 * loses its oldest. Rolling log-likelihoods (wikitext) cut the text's tokens into disjoint windows of at most
 * {@code maxLength} predictions, the first conditioned on the prefix token (BOS, or EOS without one), the
 * others on the tokens before them.
 *
 * <p>BOS ({@link Bos}): {@code AUTO} is the harness's default ({@code add_bos_token=None}): the tokenizer's own
 * special tokens, i.e. BOS first for Llama and Mistral. For rolling log-likelihoods that default also scores the
 * tokenizer's BOS after the BOS prefix, as the harness does. {@code TRUE} adds BOS where the tokenizer would
 * not; {@code FALSE} ({@code add_bos_token=False}) encodes the text alone. A text that already starts with
 * the BOS token's text gets no special tokens.
 */
public final class HarnessEncoder {

    public enum Bos { AUTO, TRUE, FALSE }

    private final Tokenizer tokenizer;
    private final Bos bos;
    private final int maxLength;
    private final int prefixToken;
    private final String bosText;

    public HarnessEncoder(Tokenizer tokenizer, Bos bos, int maxLength) {
        if (maxLength < 2) throw new T2rException("--max-length must be at least 2, not " + maxLength);
        this.tokenizer = tokenizer;
        this.bos = bos;
        this.maxLength = maxLength;
        int[] eos = tokenizer.eosIds();
        if (tokenizer.bosId().isEmpty() && eos.length == 0) {
            throw new T2rException(tokenizer.dir() + ": the tokenizer has neither BOS nor EOS to condition the first token on");
        }
        this.prefixToken = tokenizer.bosId().isPresent() ? tokenizer.bosId().getAsInt() : eos[0];
        this.bosText = tokenizer.bosId().isPresent() ? tokenizer.decode(new int[] {prefixToken}, false) : null;
        if (bos == Bos.TRUE && tokenizer.bosId().isEmpty()) throw new T2rException("--add-bos-token true: the tokenizer has no BOS token");
    }

    public int maxLength() {
        return maxLength;
    }

    public Bos bos() {
        return bos;
    }

    public int prefixToken() {
        return prefixToken;
    }

    /** The harness's {@code tok_encode(text)}. */
    int[] encode(String text) {
        if (bosText != null && !bosText.isEmpty() && text.startsWith(bosText)) return tokenizer.encodePlain(text);
        return switch (bos) {
            case AUTO -> tokenizer.encode(text);
            case FALSE -> tokenizer.encodePlain(text);
            case TRUE -> {
                int[] ids = tokenizer.encode(text);
                if (ids.length > 0 && ids[0] == prefixToken) yield ids;
                int[] plain = tokenizer.encodePlain(text), out = new int[plain.length + 1];
                out[0] = prefixToken;
                System.arraycopy(plain, 0, out, 1, plain.length);
                yield out;
            }
        };
    }

    /** A context and a continuation as the tokens the model reads and scores, left-truncated to {@code maxLength}. */
    Continuations pair(String context, String continuation) {
        if (context.isEmpty()) throw new T2rException("an empty context (the tasks here always have one)");
        String ctx = Py.rstrip(context);
        String cont = context.substring(ctx.length()) + continuation;
        int[] whole = encode(ctx + cont);
        int[] ctxIds = encode(ctx);
        int[] contIds = Arrays.copyOfRange(whole, Math.min(ctxIds.length, whole.length), whole.length);
        if (contIds.length == 0) throw new T2rException("the continuation \"" + continuation + "\" adds no tokens to its context");
        if (contIds.length > maxLength) {
            throw new T2rException("a continuation of " + contIds.length + " tokens is longer than --max-length " + maxLength);
        }
        int keep = Math.min(ctxIds.length, maxLength + 1 - contIds.length);
        return new Continuations(Arrays.copyOfRange(ctxIds, ctxIds.length - keep, ctxIds.length), List.of(contIds));
    }

    /** The rolling windows of a text: each a context and the tokens it predicts, together every token once. */
    List<Continuations> rollingWindows(String text) {
        return rollingWindowsOf(encode(text), prefixToken);
    }

    List<Continuations> rollingWindowsOf(int[] tokens, int prefixToken) {
        List<Continuations> out = new ArrayList<>();
        if (tokens.length == 0) return out;
        int first = Math.min(maxLength, tokens.length);
        out.add(new Continuations(new int[] {prefixToken}, List.of(Arrays.copyOf(tokens, first))));
        int predicted = first;
        while (predicted < tokens.length) {
            int count = Math.min(tokens.length - predicted, maxLength), end = predicted + count;
            int[] input = Arrays.copyOfRange(tokens, end - maxLength - 1, end - 1);
            int[] preds = Arrays.copyOfRange(tokens, end - count, end);
            out.add(new Continuations(Arrays.copyOf(input, input.length - (count - 1)), List.of(preds)));
            predicted += count;
        }
        return out;
    }
}
