package gsat2r.finetune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecipeChangesTest {
    private static final JsonMapper JSON = new JsonMapper();

    private static JsonNode json(String text) throws Exception {
        return JSON.readTree(text);
    }

    @Test
    void theLossWeightsOfADistillStageMayChangeOnResumeAndItsLengthMayNot() throws Exception {
        JsonNode before = json("{\"seq_len\": 24, \"stages\": [{\"steps\": 5, \"recall_weight\": 4}]}");
        RecipeChanges c = RecipeChanges.between(before,
                json("{\"seq_len\": 24, \"stages\": [{\"steps\": 5, \"recall_weight\": 2, \"answer_weight\": 3, \"answer_weights\": {\"needles\": 8}}]}"));
        assertEquals(List.of("stages[0].recall_weight: 4 -> 2", "stages[0].answer_weight: (absent) -> 3",
                "stages[0].answer_weights: (absent) -> {\"needles\":8}"), c.adjustable());
        assertTrue(c.fixed().isEmpty(), c.fixed().toString());
        RecipeChanges kind = RecipeChanges.between(
                json("{\"stages\": [{\"answer_weights\": {\"needles\": 8}}]}"), json("{\"stages\": [{\"answer_weights\": {\"needles\": 9, \"kv-recall\": 2}}]}"));
        assertEquals(List.of("stages[0].answer_weights.needles: 8 -> 9", "stages[0].answer_weights.kv-recall: (absent) -> 2"), kind.adjustable());
        RecipeChanges length = RecipeChanges.between(before, json("{\"seq_len\": 16, \"stages\": [{\"steps\": 6, \"recall_weight\": 4}]}"));
        assertEquals(List.of("seq_len: 24 -> 16", "stages[0].steps: 5 -> 6"), length.fixed());
        assertTrue(length.adjustable().isEmpty());
    }
}
