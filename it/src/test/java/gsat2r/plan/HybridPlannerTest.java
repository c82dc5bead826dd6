package gsat2r.plan;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.finetune.Plugins;
import gsat2r.finetune.TrainingListener;
import gsat2r.finetune.plan.HybridPlanner;
import gsat2r.finetune.plan.Plan;
import gsat2r.finetune.recipe.Recipe;
import gsat2r.finetune.recipe.RecipeReader;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code t2r plan} on the demo teacher (4 layers) with a short attention transfer on KJV text and its synthetic
 * recall documents: every measurement is there, every set of the budget's layers is measured (so elimination stops
 * after its first step) and the best one is the plan (the demo teacher has no induction head), and what it
 * writes (the student, the two recipes) says the plan.
 */
class HybridPlannerTest {

    @TempDir
    static Path root;
    static Path recipe;
    static HybridPlanner.Result result;

    @BeforeAll
    static void plan() throws Exception {
        Path kjv = Path.of("..", "models", "kjv-llama").toAbsolutePath().normalize();
        Path text = Path.of("..", "data", "kjv", "validation.jsonl").toAbsolutePath().normalize();
        recipe = root.resolve("recipe.json");
        Files.writeString(recipe, """
                {
                  "description": "the demo teacher, planned",
                  "teacher": "%s",
                  "student": {"slots": 16, "gate_init": "key-pool", "keep_attention": [1]},
                  "data": {"train": "%s", "validation_fraction": 0.2,
                           "synthetic": [{"kind": "kv-recall", "share": 0.3, "min_pairs": 2, "max_pairs": 8},
                                         {"kind": "repeats", "share": 0.2, "min_span": 4, "max_span": 24}]},
                  "seq_len": 128, "batch": 2, "seed": 3, "device": "cpu", "eval_tokens": 256,
                  "stages": [
                    {"type": "attention-transfer", "tokens": 100000, "lr": 3e-3, "warmup_steps": 10},
                    {"type": "distill", "steps": 5, "lr": 1e-4}
                  ]
                }
                """.formatted(kjv, text));
        result = HybridPlanner.run(new HybridPlanner.Options(recipe, root.resolve("plan"), 2, 1024, 1, List.of(32), 0.05, null, false),
                Plugins.discover(), new TrainingListener() {});
    }

    @Test
    void everyMeasurementIsThereAndTheBestOfEverySetIsThePlan() throws Exception {
        Plan p = result.plan();
        assertEquals(4, p.restoreOne().size());
        assertEquals(4, p.linearizeOne().size());
        assertEquals(4, p.at().mse().size(), "a validation MSE per GSA layer");
        assertEquals(List.of(4), p.elimination().stream().map(List::size).toList(),
                "6 sets of 2 of 4 layers: every set is measured, elimination stops after its first step");
        assertEquals(p.elimination().getFirst(), p.linearizeOne(), "the first step linearizes each layer of the teacher");
        assertEquals(6, p.everySet().size());
        for (HybridPlanner.Candidate c : p.everySet()) assertEquals(2, c.attention().size());
        HybridPlanner.Candidate best = p.everySet().getFirst();
        for (HybridPlanner.Candidate c : p.everySet()) if (c.score().logProb() > best.score().logProb()) best = c;
        assertEquals(List.of(), p.circuit(), "the demo teacher has no induction head: the probes decide");
        assertEquals("probes", p.rule());
        assertEquals(best, p.probesChoice());
        assertEquals(best.attention(), p.layers(), "the plan is the best of every set");
        assertEquals(2, p.layers().size());
        assertEquals(List.of(0, 3), p.naive().attention(), "naive: the first and the last layer");
        assertTrue(Double.isFinite(p.teacher().logProb()) && p.teacher().logProb() < 0);   // the demo teacher does not copy: no better than that
        assertEquals(p.probes(), 2, "one probe of each kind");

        JsonNode json = JsonMapper.builder().build().readTree(result.out().resolve("plan.json").toFile());
        assertEquals("t2r plan", json.path("format").asText());
        assertEquals(p.spelling(), json.at("/plan/keep_attention").asText());
        assertEquals(1, json.path("elimination").size());
        assertEquals(6, json.path("every_set").size());
        assertEquals("probes", json.path("rule").asText());
        assertEquals(4, json.at("/attention_patterns/induction").size(), "a row of head scores per layer");
        assertEquals(p.probesChoice().attention().size(), 2);
        assertTrue(Files.readString(result.out().resolve("plan.md")).contains("**Plan: keep attention at " + p.spelling() + "**"));
    }

    @Test
    void theStudentAndTheRecipesCarryThePlan() {
        Plan p = result.plan();
        GsaConfig student = GsaModel.load(result.out().resolve("student")).config();
        for (int l = 0; l < 4; l++) assertEquals(!p.layers().contains(l), student.isGsaLayer(l), "layer " + l);
        for (int l : p.layers()) {
            Integer w = p.windows().get(l);
            assertEquals(w == null ? 0 : w, student.attentionAt(l).window());
        }
        Recipe planned = RecipeReader.read(result.out().resolve("recipe.json"));
        Recipe.Convert c = (Recipe.Convert) planned.student();
        assertEquals(p.layers(), c.options().keepAttention());
        assertEquals(p.windows(), c.options().windows());
        assertEquals(2, planned.synthetic().size(), "everything else is the recipe's");
        assertEquals(2, planned.stages().size());
        Recipe naive = RecipeReader.read(result.out().resolve("recipe-naive.json"));
        assertEquals(List.of(0, 3), ((Recipe.Convert) naive.student()).options().keepAttention());
        assertTrue(naive.description().contains("naive hybrid"));
    }

    @Test
    void aBudgetOfEveryLayerOrAnOccupiedDirectoryIsRefused() {
        T2rException e = assertThrows(T2rException.class, () -> HybridPlanner.run(new HybridPlanner.Options(recipe, root.resolve("x"), 4, 1024, 1,
                List.of(), 0.05, null, false), Plugins.discover(), new TrainingListener() {}));
        assertTrue(e.getMessage().contains("--budget 4 keeps every one of the teacher's 4 layers"), e.getMessage());
        e = assertThrows(T2rException.class, () -> HybridPlanner.run(new HybridPlanner.Options(recipe, result.out(), 2, 1024, 1,
                List.of(), 0.05, null, false), Plugins.discover(), new TrainingListener() {}));
        assertTrue(e.getMessage().endsWith("exists and is not empty (give --force to replace a former plan)"), e.getMessage());
    }
}
