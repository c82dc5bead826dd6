package gsat2r.finetune.plan;

import gsat2r.finetune.plan.HybridPlanner.Candidate;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The induction and previous-token scores read the right cells of the attention probabilities, the circuit
 * rule picks induction layers and the previous-token layers before them, and the demo teacher (which does not
 * copy) has no induction head.
 */
class AttentionPatternsTest {

    /** recall-llama's strongest heads per layer, as measured on the CPU (docs/recall.md). */
    static AttentionPatterns recallLlamaLike() {
        double[] induction = {0.01, 0, 0, 0, 0.37, 0.01, 0.01, 0.01};
        double[] previous = {0.03, 0.93, 0.66, 0.37, 0.08, 0.57, 0.17, 0.19};
        double[][] ind = new double[8][], prev = new double[8][];
        for (int l = 0; l < 8; l++) {
            ind[l] = new double[] {induction[l] / 2, induction[l]};
            prev[l] = new double[] {previous[l], previous[l] / 3};
        }
        return new AttentionPatterns(8, 100, ind, prev);
    }

    @Test
    void scoresReadTheTokenAfterTheFirstOccurrenceAndThePreviousToken() {
        int n = 5, T = 1 + 2 * n;
        float[] p = new float[2 * T * T];
        for (int i = 0; i < T; i++) {
            int copyFrom = i > n ? i - n + 1 : i;             // head 0: second-half x_k looks at x_k+1 of the first half
            p[(0 * T + i) * T + copyFrom] = 1;
            p[(1 * T + i) * T + Math.max(0, i - 1)] = 1;      // head 1: the previous token
        }
        assertEquals(1.0, AttentionPatterns.inductionScore(p, 0, T, n), 1e-12);
        assertEquals(0.0, AttentionPatterns.inductionScore(p, 1, T, n), 1e-12);
        assertEquals(1.0, AttentionPatterns.previousTokenScore(p, 1, T), 1e-12);
        assertEquals(0.0, AttentionPatterns.previousTokenScore(p, 0, T), 1e-12);
    }

    @Test
    void theCircuitIsTheInductionLayerThenThePreviousTokenLayersBeforeIt() {
        AttentionPatterns a = recallLlamaLike();
        assertEquals(List.of(4), a.circuit(1));
        assertEquals(List.of(1, 4), a.circuit(2), "the strongest previous-token head before layer 4 is layer 1's");
        assertEquals(List.of(1, 2, 4), a.circuit(3));
        assertEquals(List.of(1, 2, 3, 4), a.circuit(5), "layer 5's previous-token head comes after the induction head: not part of it");
        double[][] none = new double[8][2];
        assertEquals(List.of(), new AttentionPatterns(8, 100, none, a.previousToken()).circuit(2), "no induction head, no circuit");
        double[][] two = new double[8][2];
        two[2][0] = 0.3;
        two[6][1] = 0.15;
        assertEquals(List.of(2, 6), new AttentionPatterns(8, 100, two, a.previousToken()).circuit(2), "two induction layers fill the budget");
        assertEquals(List.of(2), new AttentionPatterns(8, 100, two, a.previousToken()).circuit(1), "the stronger one first");
    }

    @Test
    void theProbesFillWhatTheCircuitLeaves() {
        Candidate c14 = candidate(List.of(1, 4), -3.0), c34 = candidate(List.of(3, 4), -2.5), c01 = candidate(List.of(0, 1), -2.0);
        assertEquals(List.of(3, 4), HybridPlanner.Measurer.withCircuit(List.of(4), 2, List.of(c14, c34, c01), c01),
                "the best measured set that holds the circuit, not the probes' overall best");
        assertEquals(List.of(0, 4), HybridPlanner.Measurer.withCircuit(List.of(4), 2, List.of(), c01), "no sets measured: the probes' layers in order");
        assertEquals(List.of(1, 4), HybridPlanner.Measurer.withCircuit(List.of(1, 4), 2, List.of(c34), c01), "a full circuit is the plan");
    }

    private static Candidate candidate(List<Integer> layers, double logProb) {
        return new Candidate("keep " + layers, layers, new TreeMap<>(), new RecallProbes.Score(logProb, 0, Map.of()));
    }

    @Test
    void theDemoTeacherHasNoInductionHead() {
        AttentionPatterns a = AttentionPatterns.measure(Path.of("..", "models", "kjv-llama"), 2, 48, AttentionPatterns.SEED);
        assertEquals(4, a.layers());
        for (int l = 0; l < 4; l++) {
            assertEquals(4, a.induction()[l].length);
            for (int h = 0; h < 4; h++) {
                assertTrue(a.induction()[l][h] >= 0 && a.induction()[l][h] < AttentionPatterns.INDUCTION_HEAD, "layer " + l + " head " + h);
                assertTrue(a.previousToken()[l][h] >= 0 && a.previousToken()[l][h] <= 1);
            }
        }
        assertEquals(List.of(), a.circuit(2));
        assertTrue(a.markdown().contains("| 3 |"));
        assertEquals(4, a.toJson().path("induction").size());
    }
}
