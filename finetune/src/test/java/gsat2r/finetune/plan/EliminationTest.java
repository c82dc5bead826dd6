package gsat2r.finetune.plan;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Backward elimination (what {@code t2r plan} runs when every set of the budget's layers is too many to measure). */
class EliminationTest {

    /** A score that adds up what each kept layer is worth. */
    static HybridPlanner.Candidate scored(String name, List<Integer> layers, double[] worth) {
        double s = 0;
        for (int l : layers) s += worth[l];
        return new HybridPlanner.Candidate(name, layers, new TreeMap<>(), new RecallProbes.Score(s, 0, Map.of()));
    }

    @Test
    void dropsTheLeastCostlyLayerStepByStepDownToTheBudget() {
        double[] worth = {0.1, 3, 0.5, 2, 1, 0.2};
        List<List<HybridPlanner.Candidate>> steps = new ArrayList<>();
        HybridPlanner.Candidate start = scored("all", List.of(0, 1, 2, 3, 4, 5), worth);
        HybridPlanner.Candidate kept = HybridPlanner.Measurer.eliminate(start, 2, (name, layers) -> scored(name, layers, worth), steps);
        assertEquals(List.of(1, 3), kept.attention());
        assertEquals(List.of(6, 5, 4, 3), steps.stream().map(List::size).toList(), "one candidate per layer still kept, each step");
        assertEquals(List.of(1, 2, 3, 4, 5), HybridPlanner.Measurer.best(steps.getFirst()).attention(), "layer 0 goes first");
        assertEquals(List.of(1, 3, 4), HybridPlanner.Measurer.best(steps.get(2)).attention());
    }

    @Test
    void aStartWithinTheBudgetIsKept() {
        double[] worth = {1, 2, 3};
        List<List<HybridPlanner.Candidate>> steps = new ArrayList<>();
        HybridPlanner.Candidate start = scored("two", List.of(0, 2), worth);
        assertEquals(start, HybridPlanner.Measurer.eliminate(start, 2, (name, layers) -> scored(name, layers, worth), steps));
        assertEquals(0, steps.size());
    }
}
