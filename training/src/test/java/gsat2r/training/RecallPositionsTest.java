package gsat2r.training;

import gsat2r.core.data.SplitMix64;
import gsat2r.core.data.synthetic.SyntheticKind;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecallPositionsTest {

    /** The definition, searched the slow way: some s + 2 <= t with tokens (s, s+1, s+2) = (t-1, t, t+1). */
    private static boolean[] bruteForce(int[] window) {
        int T = window.length - 1;
        boolean[] copy = new boolean[T];
        for (int t = 1; t < T; t++) {
            for (int s = 0; s + 2 <= t && !copy[t]; s++) {
                copy[t] = window[s] == window[t - 1] && window[s + 1] == window[t] && window[s + 2] == window[t + 1];
            }
        }
        return copy;
    }

    @Test
    void aKeyValueLookupMarksTheValueAndNotTheFirstListing() {
        // "k1 : v1 , k2 : v2 , k2 : v2" as ids: the value of the looked-up key is a copy, its first listing is not.
        int k1 = 10, v1 = 11, k2 = 12, v2 = 13, colon = 1, comma = 2;
        int[] w = {k1, colon, v1, comma, k2, colon, v2, comma, k2, colon, v2};
        boolean[] copy = RecallPositions.copyTargets(new TokenBatch(1, w.length - 1, w), 0);
        assertFalse(copy[5], "the first v2 is not in the context yet");
        assertTrue(copy[9], "the looked-up v2 follows (k2, :) as before");
        assertTrue(copy[8], "':' after k2 repeats (',', k2, ':')");
        assertFalse(copy[7], "k2 after ',' follows (v2, ',') for the first time");
        assertArrayEquals(bruteForce(w), copy);
    }

    @Test
    void equalsTheDefinitionOnRandomAndRepetitiveWindows() {
        SplitMix64 rng = new SplitMix64(5);
        for (int trial = 0; trial < 200; trial++) {
            int T = 2 + rng.nextInt(80), vocab = 2 + rng.nextInt(trial % 3 == 0 ? 3 : 50), rows = 1 + rng.nextInt(3);
            int[] tokens = new int[rows * (T + 1)];
            for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(vocab);
            TokenBatch b = new TokenBatch(rows, T, tokens);
            float[] weights = RecallPositions.weights(b, 3.5);
            for (int s = 0; s < rows; s++) {
                int[] window = java.util.Arrays.copyOfRange(tokens, s * (T + 1), (s + 1) * (T + 1));
                boolean[] expect = bruteForce(window);
                assertArrayEquals(expect, RecallPositions.copyTargets(b, s), "trial " + trial + " row " + s);
                for (int t = 0; t < T; t++) assertEquals(expect[t] ? 3.5f : 1f, weights[s * T + t]);
            }
        }
    }

    @Test
    void sequencesDoNotSeeEachOther() {
        int[] tokens = {1, 2, 3, 4, /* second row */ 9, 1, 2, 3};
        boolean[] copy = RecallPositions.copyTargets(new TokenBatch(2, 3, tokens), 1);
        assertArrayEquals(new boolean[3], copy, "(1, 2, 3) occurred in row 0 only");
    }

    @Test
    void weightOneMeansNoWeightsAndLargeIdsAreRefused() {
        assertNull(RecallPositions.weights(new TokenBatch(1, 3, new int[] {1, 2, 3, 4}), 1));
        assertThrows(IllegalArgumentException.class, () -> RecallPositions.weights(new TokenBatch(1, 3, new int[] {1, 2, 1 << 22, 4}), 2));
        assertThrows(IllegalArgumentException.class, () -> new Objective.Distill(1, 0, -1));
    }

    @Test
    void theAnswerWeightMultipliesTheRecallWeightAtTheMarkedTargets() {
        // row "a b c a b c d": targets of positions 0..5 are b c a b c d; the trigram repeats make targets 4 (c) a copy
        int[] tokens = {1, 2, 3, 1, 2, 3, 4};
        byte kv = SyntheticKind.answerMark("kv-recall");
        byte[] answers = new byte[tokens.length];
        answers[5] = kv;                                    // token 5 (the target of position 4): a copy and an answer
        answers[6] = kv;                                    // token 6 (the target of position 5): an answer alone
        TokenBatch marked = new TokenBatch(1, 6, tokens, answers), unmarked = new TokenBatch(1, 6, tokens);
        assertArrayEquals(new float[] {1, 1, 1, 1, 2, 1}, new Objective.Distill(1, 0, 2).positionWeights(marked));
        assertArrayEquals(new float[] {1, 1, 1, 1, 6, 3}, new Objective.Distill(1, 0, 2, 3).positionWeights(marked));
        assertArrayEquals(new float[] {1, 1, 1, 1, 1, 0.5f}, new Objective.Distill(1, 0, 1, 0.5).positionWeights(
                new TokenBatch(1, 6, tokens, new byte[] {0, 0, 0, 0, 0, 0, kv})));
        assertArrayEquals(new float[] {1, 1, 1, 1, 2, 1}, new Objective.Distill(1, 0, 2, 3).positionWeights(unmarked),
                "no marks: the recall weight alone");
        assertNull(new Objective.Distill(1, 0, 1, 3).positionWeights(unmarked));
        // two rows: row s's target t is token s·(T + 1) + t + 1, its weight at s·T + t
        byte[] two = new byte[14];
        two[7 + 3] = kv;                                    // row 1's token 3: the target of its position 2
        assertArrayEquals(new float[] {1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1, 1}, new Objective.Distill(1, 0, 1, 5).positionWeights(
                new TokenBatch(2, 6, new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, two)));
        assertTrue(new Objective.Distill(1, 0, 1, 3).needsAnswers());
        assertFalse(new Objective.Distill(1, 0, 4).needsAnswers());
        assertThrows(IllegalArgumentException.class, () -> new Objective.Distill(1, 0, 1, 101));
        assertThrows(IllegalArgumentException.class, () -> new TokenBatch(1, 6, tokens, new byte[3]));
    }

    @Test
    void eachKindsAnswersTakeItsOwnWeightAndTheRestTheCommonOne() {
        // row "a b c a b c d e": the target of position 4 (c) is a copy; marks at the targets of positions 3, 4, 5, 6
        int[] tokens = {1, 2, 3, 1, 2, 3, 4, 5};
        byte kv = SyntheticKind.answerMark("kv-recall"), needles = SyntheticKind.answerMark("needles"),
                repeats = SyntheticKind.answerMark("repeats"), variables = SyntheticKind.answerMark("variables");
        TokenBatch batch = new TokenBatch(1, 7, tokens, new byte[] {0, 0, 0, 0, kv, needles, repeats, variables});
        var byKind = java.util.Map.of("needles", 8.0, "variables", 0.0);
        assertArrayEquals(new float[] {1, 1, 1, 3, 16, 3, 0}, new Objective.Distill(1, 0, 2, 3, byKind).positionWeights(batch),
                "kv-recall and repeats at the common 3, needles at 8 (times the copy weight 2), variables at 0");
        assertArrayEquals(new float[] {1, 1, 1, 1, 16, 1, 0}, new Objective.Distill(1, 0, 2, 1, byKind).positionWeights(batch));
        assertTrue(new Objective.Distill(1, 0, 1, 1, java.util.Map.of("needles", 4.0)).needsAnswers(), "a kind's own weight alone");
        assertFalse(new Objective.Distill(1, 0, 1, 1, java.util.Map.of("needles", 1.0)).needsAnswers(), "every weight 1");
        assertFalse(new Objective.Distill(1, 0, 1, 3, java.util.Map.of("kv-recall", 1.0, "needles", 1.0, "repeats", 1.0,
                "variables", 1.0)).needsAnswers(), "every kind named at 1: the common weight weighs nothing");
        assertEquals(4.0, new Objective.Distill(1, 0, 1, 4, byKind).answerWeightOf("kv-recall"));
        assertThrows(IllegalArgumentException.class, () -> new Objective.Distill(1, 0, 1, 1, java.util.Map.of("needle", 2.0)));
        assertThrows(IllegalArgumentException.class, () -> new Objective.Distill(1, 0, 1, 1, java.util.Map.of("needles", -1.0)));
        assertEquals(java.util.List.of(1, 2, 3, 4), SyntheticKind.NAMES.stream().map(k -> (int) SyntheticKind.answerMark(k)).toList());
        assertThrows(IllegalArgumentException.class, () -> SyntheticKind.answerMark("lists"));
    }
}
