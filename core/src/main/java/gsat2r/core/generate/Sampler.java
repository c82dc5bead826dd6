package gsat2r.core.generate;

import gsat2r.core.T2rException;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: greedy (argmax, the lowest id on ties, as
 * {@code torch.argmax}), or a draw from {@code softmax(logits / temperature)} restricted to the
 * {@code topK} most likely tokens (0: no limit; tokens tied with the k-th are kept, as transformers'
 * TopKLogitsWarper does) and then to the nucleus: the most probable tokens whose probabilities first
 * add up to at least {@code topP} (the token that crosses {@code topP} is kept; at least one token
 * always is). transformers' order: temperature, top-k, top-p.
 *
 * <p>A repetition penalty θ ≠ 1 (CTRL, Keskar et al. 2019, as transformers applies it) first divides
 * the logit of every token already in the context by θ when it is positive and multiplies it when
 * negative; it applies to greedy decoding too and needs {@link #sample(float[], int[], int)}.
 *
 * <p>Draws come from a {@link SplittableRandom} seeded once, so the same seed, model and prompt give
 * the same tokens. Probabilities are computed in double precision.
 */
public final class Sampler {

    private final double temperature;
    private final double topP;
    private final int topK;
    private final double repetitionPenalty;
    private final SplittableRandom random;

    private Sampler(double temperature, double topP, int topK, double repetitionPenalty, long seed) {
        this.temperature = temperature;
        this.topP = topP;
        this.topK = topK;
        this.repetitionPenalty = repetitionPenalty;
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() {
        return new Sampler(0, 1, 0, 1, 0);
    }

    /** Greedy decoding with a repetition penalty {@code > 0} (1: none). */
    public static Sampler greedy(double repetitionPenalty) {
        checkPenalty(repetitionPenalty);
        return new Sampler(0, 1, 0, repetitionPenalty, 0);
    }

    /**
     * @param topK              keep the k most likely tokens; 0 keeps all
     * @param repetitionPenalty {@code > 0}; 1 is none
     */
    public static Sampler sampling(double temperature, double topP, int topK, double repetitionPenalty, long seed) {
        Sampler s = sampling(temperature, topP, seed);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        checkPenalty(repetitionPenalty);
        return new Sampler(s.temperature, s.topP, topK, repetitionPenalty, seed);
    }

    private static void checkPenalty(double penalty) {
        if (!(penalty > 0) || Double.isInfinite(penalty)) {
            throw new IllegalArgumentException("repetition penalty must be a finite number > 0, got " + penalty);
        }
    }

    /**
     * @param temperature {@code > 0} divides the logits; {@code 0} means greedy
     * @param topP        in {@code (0, 1]}; 1 keeps every token
     */
    public static Sampler sampling(double temperature, double topP, long seed) {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        return new Sampler(temperature, topP, 0, 1, seed);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    /**
     * The next token id after {@code history[0, length)} (the prompt and the tokens so far), which the
     * repetition penalty looks at; {@code logits} is not changed.
     */
    public int sample(float[] logits, int[] history, int length) {
        if (repetitionPenalty == 1 || length == 0) return sample(logits);
        float[] penalized = logits.clone();
        java.util.BitSet seen = new java.util.BitSet(logits.length);
        for (int i = 0; i < length; i++) {
            int id = history[i];
            if (id < 0 || id >= logits.length || seen.get(id)) continue;
            seen.set(id);
            float l = penalized[id];
            penalized[id] = (float) (l > 0 ? l / repetitionPenalty : l * repetitionPenalty);
        }
        return sample(penalized);
    }

    /** The next token id, without a repetition penalty; NaN logits are an error (they mean the model diverged). */
    public int sample(float[] logits) {
        if (logits.length == 0) throw new IllegalArgumentException("empty logits");
        int best = argmax(logits);
        if (isGreedy()) return best;

        // softmax(logits / T), shifted by the maximum so that exp never overflows
        double max = logits[best];
        if (max == Double.POSITIVE_INFINITY) return best;
        double[] p = new double[logits.length];
        double sum = 0;
        float kth = topK > 0 && topK < logits.length ? kthLargest(logits, topK) : Float.NEGATIVE_INFINITY;
        for (int i = 0; i < logits.length; i++) {
            p[i] = logits[i] < kth ? 0 : Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        if (topP >= 1) return draw(p, sum);
        return drawFromNucleus(p, sum);
    }

    private int draw(double[] p, double sum) {
        double u = random.nextDouble() * sum;
        double acc = 0;
        int last = -1;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) continue;
            acc += p[i];
            last = i;
            if (u < acc) return i;
        }
        return last;          // u landed in the rounding slack at the very end
    }

    private int drawFromNucleus(double[] p, double sum) {
        // Order ids by probability, highest first (ties: lower id first) with one primitive sort:
        // non-negative doubles order like their bit patterns, so key = ~bits(p) in the high bits.
        int n = p.length;
        long[] order = new long[n];
        for (int i = 0; i < n; i++) {
            float f = (float) (p[i] / sum);
            order[i] = ((long) ~Float.floatToRawIntBits(f) << 32) | (i & 0xffffffffL);
        }
        Arrays.sort(order);
        double target = topP * sum;
        double kept = 0;
        int count = 0;
        while (count < n) {
            kept += p[(int) order[count]];
            count++;
            if (kept >= target) break;
        }
        double u = random.nextDouble() * kept;
        double acc = 0;
        for (int k = 0; k < count; k++) {
            int id = (int) order[k];
            acc += p[id];
            if (u < acc) return id;
        }
        return (int) order[count - 1];
    }

    /** The k-th largest value (1-based) of {@code logits}. */
    private static float kthLargest(float[] logits, int k) {
        float[] sorted = logits.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length - k];
    }

    private static int argmax(float[] logits) {
        int best = 0;
        for (int i = 0; i < logits.length; i++) {
            float v = logits[i];
            if (Float.isNaN(v)) throw new T2rException("the model produced NaN logits (token id " + i + ")");
            if (v > logits[best]) best = i;
        }
        return best;
    }
}
