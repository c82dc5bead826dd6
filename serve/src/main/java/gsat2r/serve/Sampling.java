package gsat2r.serve;

import gsat2r.core.generate.Sampler;

import java.util.Map;
import java.util.SplittableRandom;

/**
 * A request's sampling parameters as OpenAI defines them: {@code temperature} (0 = greedy), {@code top_p}
 * (0 = greedy too), {@code seed} (choice i draws from seed + i; none: a random seed), vLLM's {@code top_k} (0 or -1:
 * every token), and the adjustments made to the logits before each draw: {@code logit_bias} added to the named
 * tokens (-100 bans one), vLLM's {@code repetition_penalty} (transformers': over the prompt and the tokens generated so
 * far, a positive logit divided by it, a negative one multiplied; applied by the {@link Sampler}), and
 * {@code logit[j] -= count[j] · frequency_penalty + (count[j] > 0) · presence_penalty} over the tokens generated so
 * far for the choice.
 */
record Sampling(double temperature, double topP, int topK, Long seed, double presencePenalty, double frequencyPenalty,
                Map<Integer, Float> logitBias, double repetitionPenalty) {

    private static final SplittableRandom SEEDS = new SplittableRandom();

    Sampling {
        logitBias = Map.copyOf(logitBias);
    }

    static Sampling greedy() {
        return new Sampling(0, 1, 0, null, 0, 0, Map.of(), 1);
    }

    boolean isGreedy() {
        return temperature == 0 || topP == 0;
    }

    /** The sampler of choice {@code choice}. */
    Sampler sampler(int choice) {
        if (isGreedy()) return Sampler.greedy(repetitionPenalty);
        long s = seed != null ? seed + choice : nextRandomSeed();
        return Sampler.sampling(temperature, topP, topK, repetitionPenalty, s);
    }

    /** Whether the sampler needs the choice's tokens so far (the prompt's and the generated ones). */
    boolean needsHistory() {
        return repetitionPenalty != 1;
    }

    /** Whether {@link #adjust} changes anything (otherwise the model's logits are sampled as they are). */
    boolean adjusts() {
        return presencePenalty != 0 || frequencyPenalty != 0 || !logitBias.isEmpty();
    }

    /** A copy of {@code logits} with the bias and penalties applied; {@code counts[j]}: times token j was generated. */
    float[] adjust(float[] logits, int[] counts) {
        float[] out = logits.clone();
        for (Map.Entry<Integer, Float> b : logitBias.entrySet()) {
            // -100 bans the token, as OpenAI documents, rather than only making it unlikely.
            out[b.getKey()] = b.getValue() <= -100 ? Float.NEGATIVE_INFINITY : out[b.getKey()] + b.getValue();
        }
        if (presencePenalty != 0 || frequencyPenalty != 0) {
            for (int j = 0; j < out.length; j++) {
                if (counts[j] > 0) out[j] -= (float) (counts[j] * frequencyPenalty + presencePenalty);
            }
        }
        return out;
    }

    private static synchronized long nextRandomSeed() {
        return SEEDS.nextLong();
    }
}
