package gsat2r.core.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.cpu.LogitLosses;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.testing.Numerics;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Acceptance check against Hugging Face transformers 5.17 on the pretrained tiny-llama of the shared
 * folder ({@code ../shared/models/tiny-llama}, not part of the project: skipped when absent, and tagged
 * {@code shared} so that a build can leave it out). {@code reference.json} holds, per prompt, the token
 * ids, the fp32 last-position logits, per-position argmax and logsumexp, and 40 greedy tokens.
 * Tolerances: last logits 1e-4 relative L2; logsumexp 1e-4 relative per position; argmax and greedy
 * tokens identical (greedy decoding runs through the KV-cache decoder).
 */
@Tag("shared")
class TinyLlamaReferenceTest {
    static Path dir;
    static LlamaModel model;
    static JsonNode reference;

    @BeforeAll
    static void load() throws Exception {
        dir = SharedFolder.find("models/tiny-llama");
        assumeTrue(dir != null && Files.isRegularFile(dir.resolve("reference.json")),
                "../shared/models/tiny-llama is absent: nothing to compare with");
        model = LlamaModel.load(dir);
        reference = new ObjectMapper().readTree(dir.resolve("reference.json").toFile());
    }

    @Test
    void logitsArgmaxAndLogsumexpMatchTransformers() {
        for (JsonNode prompt : reference.get("prompts")) {
            int[] ids = ints(prompt.get("ids"));
            float[][] logits = model.forward(ids);
            float[] expectedLast = floats(prompt.get("logits_last"));
            double err = Numerics.relL2(logits[ids.length - 1], expectedLast);
            double worstLse = 0;
            for (int t = 0; t < ids.length; t++) {
                assertEquals(prompt.get("argmax").get(t).asInt(), argmax(logits[t]), "argmax at position " + t);
                double lse = LogitLosses.logSumExp(logits[t], 0, logits[t].length);
                double expected = prompt.get("logsumexp").get(t).asDouble();
                worstLse = Math.max(worstLse, Math.abs(lse - expected) / Math.abs(expected));
            }
            System.out.printf(Locale.ROOT, "tiny-llama '%s': last logits rel L2 %.2e, logsumexp max rel %.2e%n",
                    prompt.get("prompt").asText(), err, worstLse);
            Numerics.assertRelL2("last logits of '" + prompt.get("prompt").asText() + "'", logits[ids.length - 1],
                    expectedLast, 1e-4);
            assertTrue(worstLse <= 1e-4, "logsumexp relative error " + worstLse);
        }
    }

    @Test
    void greedyDecodingMatchesTransformers() {
        for (JsonNode prompt : reference.get("prompts")) {
            int[] ids = ints(prompt.get("ids"));
            int[] expected = ints(prompt.get("greedy_40"));
            assertArrayEquals(expected, greedy(model, ids, expected.length - ids.length),
                    "greedy continuation of '" + prompt.get("prompt").asText() + "'");
        }
    }

    /** Prompt followed by {@code n} greedy tokens (ties go to the lowest id, as torch.argmax does). */
    static int[] greedy(LanguageModel model, int[] prompt, int n) {
        LanguageModel.Decoder dec = model.newDecoder();
        List<Integer> out = new ArrayList<>();
        for (int id : prompt) out.add(id);
        float[] logits = dec.prefill(prompt);
        for (int i = 0; i < n; i++) {
            int next = argmax(logits);
            out.add(next);
            if (i + 1 < n) logits = dec.next(next);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }

    static float[] floats(JsonNode a) {
        float[] r = new float[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = (float) a.get(i).asDouble();
        return r;
    }
}
