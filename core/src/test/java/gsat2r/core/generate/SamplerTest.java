package gsat2r.core.generate;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;

import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {

    private static final float[] LOGITS = {1.0f, 3.0f, -2.0f, 2.5f, 0.0f, 3.0f - 1e-3f, -30f, 1.7f};
    private static final int DRAWS = 200_000;

    /** Reference: softmax(logits / T) in double, written out plainly. */
    private static double[] softmax(float[] logits, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) max = Math.max(max, v);
        double[] p = new double[logits.length];
        double s = 0;
        for (int i = 0; i < p.length; i++) s += p[i] = Math.exp((logits[i] - max) / t);
        for (int i = 0; i < p.length; i++) p[i] /= s;
        return p;
    }

    private static double[] frequencies(Sampler sampler, float[] logits) {
        double[] f = new double[logits.length];
        for (int k = 0; k < DRAWS; k++) f[sampler.sample(logits)]++;
        for (int i = 0; i < f.length; i++) f[i] /= DRAWS;
        return f;
    }

    /** Each frequency within 5 standard deviations of its probability (fails by chance ~1e-6). */
    private static void assertFrequencies(double[] expected, double[] observed) {
        for (int i = 0; i < expected.length; i++) {
            double sigma = Math.sqrt(expected[i] * (1 - expected[i]) / DRAWS);
            assertEquals(expected[i], observed[i], 5 * sigma + 1e-12, "token " + i);
        }
    }

    @Test
    void greedyIsArgmaxWithTheLowestIdOnTies() {
        assertEquals(1, Sampler.greedy().sample(LOGITS));
        assertEquals(2, Sampler.greedy().sample(new float[] {0, 1, 4, 4, 4}));
        assertEquals(0, Sampler.greedy().sample(new float[] {Float.NEGATIVE_INFINITY}));
        assertEquals(1, Sampler.sampling(0, 1, 7).sample(LOGITS), "temperature 0 is greedy");
    }

    @Test
    void temperatureSamplingFollowsTheSoftmax() {
        for (double t : new double[] {1.0, 0.7, 2.0}) {
            assertFrequencies(softmax(LOGITS, t), frequencies(Sampler.sampling(t, 1.0, 11), LOGITS));
        }
    }

    @Test
    void topPKeepsTheSmallestNucleusAndRenormalizes() {
        double t = 1.0;
        double[] p = softmax(LOGITS, t);
        // sorted: 1 (0.32...), 5 (0.32...), 3 (0.19...), 7, 0, 4, 2, 6
        Integer[] order = IntStream.range(0, p.length).boxed().sorted((a, b) -> Double.compare(p[b], p[a])).toArray(Integer[]::new);
        for (double topP : new double[] {0.5, 0.8, 0.9, 0.999}) {
            double[] expected = new double[p.length];
            double kept = 0;
            for (int k = 0; k < order.length && kept < topP; k++) {
                expected[order[k]] = p[order[k]];
                kept += p[order[k]];
            }
            for (int i = 0; i < expected.length; i++) expected[i] /= kept;
            double[] observed = frequencies(Sampler.sampling(t, topP, 3), LOGITS);
            assertFrequencies(expected, observed);
            for (int i = 0; i < expected.length; i++) {
                if (expected[i] == 0) assertEquals(0.0, observed[i], "token " + i + " is outside the nucleus at top-p " + topP);
            }
        }
        // a tiny top-p keeps only the most probable token
        for (int k = 0; k < 1000; k++) assertEquals(1, Sampler.sampling(1.0, 1e-6, k).sample(LOGITS));
    }

    @Test
    void theSameSeedGivesTheSameDraws() {
        int[] a = draws(Sampler.sampling(0.9, 0.95, 1234));
        int[] b = draws(Sampler.sampling(0.9, 0.95, 1234));
        int[] c = draws(Sampler.sampling(0.9, 0.95, 1235));
        assertArrayEquals(a, b);
        assertFalse(java.util.Arrays.equals(a, c));
    }

    private static int[] draws(Sampler s) {
        return IntStream.range(0, 200).map(k -> s.sample(LOGITS)).toArray();
    }

    @Test
    void nanLogitsAreAnErrorAndBadSettingsAreRefused() {
        float[] nan = {0, Float.NaN, 1};
        assertThrows(T2rException.class, () -> Sampler.greedy().sample(nan));
        assertThrows(T2rException.class, () -> Sampler.sampling(1, 1, 0).sample(nan));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampling(-1, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampling(Double.NaN, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampling(1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampling(1, 1.5, 0));
        assertTrue(Sampler.sampling(0, 1, 0).isGreedy());
    }

    @Test
    void topKDrawsOnlyAmongTheKMostLikelyTiesIncluded() {
        float[] logits = {0.0f, 3.0f, 2.0f, 2.0f, 1.0f};
        Sampler one = Sampler.sampling(1.0, 1.0, 1, 1.0, 5);
        for (int i = 0; i < 50; i++) assertEquals(1, one.sample(logits), "top-k 1 is greedy");
        Sampler two = Sampler.sampling(5.0, 1.0, 2, 1.0, 6);
        java.util.Set<Integer> seen = new java.util.TreeSet<>();
        for (int i = 0; i < 500; i++) seen.add(two.sample(logits));
        assertEquals(java.util.Set.of(1, 2, 3), seen, "the two tied with the 2nd largest both stay, as in transformers");
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampling(1.0, 1.0, -1, 1.0, 0));
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        float[] logits = {2.0f, 1.5f, -1.0f, -1.2f};
        Sampler greedy = Sampler.greedy(2.0);
        assertEquals(0, greedy.sample(logits), "no history: no penalty");
        assertEquals(1, greedy.sample(logits, new int[] {0, 0, 3}, 3), "2.0 / 2 = 1.0 < 1.5");
        float[] negative = {-1.0f, -1.5f};
        assertEquals(1, greedy.sample(negative, new int[] {0}, 1), "-1.0 * 2 = -2.0 < -1.5");
        assertEquals(0, greedy.sample(negative, new int[] {0, 1}, 0), "only the first 0 entries of the history count");
        assertArrayEquals(new float[] {-1.0f, -1.5f}, negative, "the logits are not changed");
        assertThrows(IllegalArgumentException.class, () -> Sampler.greedy(0));
    }
}
