package gsat2r.finetune.plan;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;

class WindowChoiceTest {
    static final double TOLERANCE = 0.02;

    static HybridPlanner.Candidate candidate(TreeMap<Integer, Integer> windows, double logProb, double exact) {
        return new HybridPlanner.Candidate("w" + windows, List.of(0, 1), windows, new RecallProbes.Score(logProb, exact, Map.of()));
    }

    static TreeMap<Integer, Integer> choose(Map<TreeMap<Integer, Integer>, double[]> scores, List<HybridPlanner.Candidate> trials) {
        return choose(scores, trials, 0.5);
    }

    static TreeMap<Integer, Integer> choose(Map<TreeMap<Integer, Integer>, double[]> scores, List<HybridPlanner.Candidate> trials, double fullExact) {
        HybridPlanner.Candidate full = candidate(new TreeMap<>(), -6.00, fullExact);
        Function<TreeMap<Integer, Integer>, HybridPlanner.Candidate> measure = w -> {
            double[] s = scores.getOrDefault(w, new double[] {-9, 0});
            return candidate(w, s[0], s[1]);
        };
        return HybridPlanner.Measurer.chooseWindows(List.of(0, 1), List.of(64, 256, 1024), 1024, TOLERANCE, full, measure, trials);
    }

    static TreeMap<Integer, Integer> windows(int... layerWindow) {
        TreeMap<Integer, Integer> m = new TreeMap<>();
        for (int i = 0; i < layerWindow.length; i += 2) m.put(layerWindow[i], layerWindow[i + 1]);
        return m;
    }

    @Test
    void takesTheSmallestWindowWithinToleranceOfFullAttention() {
        List<HybridPlanner.Candidate> trials = new ArrayList<>();
        var chosen = choose(Map.of(windows(0, 64), new double[] {-6.5, 0.5}, windows(0, 256), new double[] {-6.01, 0.5},
                windows(0, 256, 1, 64), new double[] {-6.015, 0.5}), trials);
        assertEquals(windows(0, 256, 1, 64), chosen);
        assertEquals(3, trials.size(), "64 then 256 for layer 0, 64 for layer 1; never the sequence length");
    }

    @Test
    void costsDoNotAddUpAcrossLayers() {
        // Each window costs 0.015 nats more than the last accepted trial: within tolerance of that trial, but the
        // second is 0.03 from full attention.
        var chosen = choose(Map.of(windows(0, 64), new double[] {-6.015, 0.5}, windows(0, 64, 1, 64), new double[] {-6.03, 0.5},
                windows(0, 64, 1, 256), new double[] {-6.03, 0.5}), new ArrayList<>());
        assertEquals(windows(0, 64), chosen);
    }

    @Test
    void aWindowMayNotLoseExactAnswers() {
        var chosen = choose(Map.of(windows(0, 64), new double[] {-5.9, 0.4}, windows(0, 256), new double[] {-5.99, 0.5}), new ArrayList<>());
        assertEquals(windows(0, 256), chosen);
    }

    @Test
    void noWindowWhenFullAttentionAnswersNothingExactly() {
        List<HybridPlanner.Candidate> trials = new ArrayList<>();
        var chosen = choose(Map.of(windows(0, 64), new double[] {-5.9, 0}), trials, 0);
        assertEquals(windows(), chosen);
        assertEquals(0, trials.size(), "nothing measured");
    }

    @Test
    void everySetOfKLayersInOrder() {
        assertEquals(List.of(List.of(0, 1), List.of(0, 2), List.of(1, 2)), HybridPlanner.Measurer.subsets(List.of(0, 1, 2), 2));
        assertEquals(28, HybridPlanner.Measurer.subsets(List.of(0, 1, 2, 3, 4, 5, 6, 7), 2).size());
        assertEquals(28, HybridPlanner.Measurer.binomial(8, 2));
        assertEquals(10_518_300, HybridPlanner.Measurer.binomial(32, 8));
        assertEquals(List.of(List.of()), HybridPlanner.Measurer.subsets(List.of(0, 1), 0));
    }
}
