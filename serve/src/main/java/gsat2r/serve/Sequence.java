package gsat2r.serve;

import gsat2r.core.generate.Sampler;
import gsat2r.core.generate.StopText;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.StreamingDecoder;

import java.util.ArrayList;
import java.util.List;

/** One choice of a {@link Job} being generated: its decoder, sampler, text so far and stop-string state (scheduler thread only). */
final class Sequence {
    final int choice;
    final LanguageModel.Decoder decoder;
    final Sampler sampler;
    final StreamingDecoder text;
    final StopText stop;
    /** Times each token was generated (for the penalties), or null when the request has none. */
    final int[] counts;
    /** The prompt's tokens and those generated, for a sampler with a repetition penalty; null otherwise. */
    int[] history;
    int historyLength;
    int generated;
    /** The token sampled last, to be fed at the next decode step; -1 when none. */
    int pending = -1;
    boolean finished;
    /** The log-probabilities of the tokens sampled since the last text sent; null when the request asks for none. */
    final List<TokenLogprob> unsent;

    Sequence(int choice, LanguageModel.Decoder decoder, Sampler sampler, StreamingDecoder text, StopText stop, int[] counts,
             boolean logprobs) {
        this.choice = choice;
        this.decoder = decoder;
        this.sampler = sampler;
        this.text = text;
        this.stop = stop;
        this.counts = counts;
        this.unsent = logprobs ? new ArrayList<>() : null;
    }

    /** The log-probabilities not sent yet (to go with the next event), emptied. */
    List<TokenLogprob> takeLogprobs() {
        if (unsent == null || unsent.isEmpty()) return List.of();
        List<TokenLogprob> out = List.copyOf(unsent);
        unsent.clear();
        return out;
    }
}
