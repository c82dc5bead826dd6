package gsat2r.core.model;

import gsat2r.core.T2rException;
import gsat2r.core.cpu.LogitLosses;

import java.util.ArrayList;
import java.util.List;

/**
 * The CPU way of {@link LanguageModel#scoreContinuations}: the context is read once, by a decoder, and its
 * state is copied for each continuation ({@link LanguageModel.Decoder#saveState}), which then runs from there in
 * one multi-token pass; so an item of four 30-token choices after a 100-token context costs 100 + 4 × 30
 * positions, not 4 × 130. A model whose decoder cannot save its state is run over each context +
 * continuation in full ({@link LanguageModel#forward}).
 */
public final class ContinuationScorer {
    private ContinuationScorer() {}

    public static List<Continuations.Score[]> score(LanguageModel model, List<Continuations> batch) {
        List<Continuations.Score[]> out = new ArrayList<>(batch.size());
        for (Continuations c : batch) out.add(score(model, c));
        return out;
    }

    static Continuations.Score[] score(LanguageModel model, Continuations c) {
        LanguageModel.Decoder decoder = model.newDecoder();
        float[] afterContext = decoder.prefill(c.context());
        DecoderState saved;
        try {
            saved = c.continuations().size() == 1 ? null : decoder.saveState();
        } catch (T2rException | UnsupportedOperationException cannotSave) {
            return byForward(model, c);
        }
        Continuations.Score[] scores = new Continuations.Score[c.continuations().size()];
        for (int i = 0; i < scores.length; i++) {
            if (i > 0) decoder.restoreState(saved);
            scores[i] = along(decoder, afterContext, c.continuations().get(i));
        }
        return scores;
    }

    /**
     * Scores {@code tokens} from a decoder whose next-token logits are {@code first}: the tokens but the last go
     * through in one multi-token pass ({@link LanguageModel.Decoder#prefillAll}).
     */
    public static Continuations.Score along(LanguageModel.Decoder decoder, float[] first, int[] tokens) {
        float[][] after = tokens.length > 1 ? decoder.prefillAll(java.util.Arrays.copyOf(tokens, tokens.length - 1)) : new float[0][];
        double sum = 0;
        boolean greedy = true;
        for (int j = 0; j < tokens.length; j++) {
            float[] logits = j == 0 ? first : after[j - 1];
            sum += logProb(logits, tokens[j]);
            greedy &= argmax(logits) == tokens[j];
        }
        return new Continuations.Score(sum, greedy);
    }

    /** Each context + continuation through {@link LanguageModel#forward}: the reference the decoder path must match. */
    public static Continuations.Score[] byForward(LanguageModel model, Continuations c) {
        Continuations.Score[] scores = new Continuations.Score[c.continuations().size()];
        for (int i = 0; i < scores.length; i++) {
            int[] cont = c.continuations().get(i);
            float[][] logits = model.forward(c.input(i));
            int first = c.context().length - 1;
            double sum = 0;
            boolean greedy = true;
            for (int j = 0; j < cont.length; j++) {
                sum += logProb(logits[first + j], cont[j]);
                greedy &= argmax(logits[first + j]) == cont[j];
            }
            scores[i] = new Continuations.Score(sum, greedy);
        }
        return scores;
    }

    /** {@code log softmax(logits)[id]} in double, the maximum subtracted first. */
    public static double logProb(float[] logits, int id) {
        return logits[id] - LogitLosses.logSumExp(logits, 0, logits.length);
    }

    /** The first index of the largest logit, as {@code torch.argmax}. */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
