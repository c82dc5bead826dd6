package gsat2r.finetune;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.Json;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.training.TrainableSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PeftAdapterTest {

    @TempDir
    Path tmp;

    /** Adapters of rank 2 on q_proj and o_proj of layers 0 and 2 (layer 1 kept as softmax attention): in 3, out 5 and 4. */
    private static Map<String, float[]> factors() {
        Map<String, float[]> f = new LinkedHashMap<>();
        for (int l : new int[] {0, 2}) {
            f.put("model.layers." + l + ".attn.q_proj.lora_A.weight", ramp(2 * 3, l));
            f.put("model.layers." + l + ".attn.q_proj.lora_B.weight", ramp(5 * 2, l + 10));
            f.put("model.layers." + l + ".attn.o_proj.lora_A.weight", ramp(2 * 5, l + 20));
            f.put("model.layers." + l + ".attn.o_proj.lora_B.weight", ramp(3 * 2, l + 30));
        }
        return f;
    }

    private static float[] ramp(int n, int seed) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = seed + 0.25f * i;
        return v;
    }

    @Test
    void writesPeftNamesShapesValuesAndAConfigThatTargetsExactlyTheAdaptedModules() throws IOException {
        Path dir = PeftAdapter.write(tmp.resolve("adapters/kd"), factors(), new TrainableSet.Lora(2, 4), "kd");
        try (SafeTensors st = SafeTensors.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(8, st.tensors().size());
            assertArrayEquals(new long[] {2, 3}, st.info("base_model.model.model.layers.0.attn.q_proj.lora_A.weight").shape());
            assertArrayEquals(new long[] {5, 2}, st.info("base_model.model.model.layers.0.attn.q_proj.lora_B.weight").shape());
            assertArrayEquals(new long[] {3, 2}, st.info("base_model.model.model.layers.2.attn.o_proj.lora_B.weight").shape());
            assertArrayEquals(ramp(10, 22), st.floats("base_model.model.model.layers.2.attn.o_proj.lora_A.weight"));
            assertEquals("pt", st.metadata().get("format"), "transformers' loader wants the pt format tag");
        }
        JsonNode c = Json.COMPACT.readTree(dir.resolve("adapter_config.json").toFile());
        assertEquals("LORA", c.path("peft_type").asText());
        assertEquals("CAUSAL_LM", c.path("task_type").asText());
        assertEquals(2, c.path("r").asInt());
        assertEquals(4.0, c.path("lora_alpha").asDouble());
        assertEquals(0.0, c.path("lora_dropout").asDouble());
        assertEquals("none", c.path("bias").asText());
        // PEFT full-matches a string target_modules against every module path of the model.
        Pattern target = Pattern.compile(c.path("target_modules").asText());
        for (String m : List.of("model.layers.0.attn.q_proj", "model.layers.2.attn.o_proj")) assertTrue(target.matcher(m).matches(), m);
        for (String m : List.of("model.layers.1.attn.q_proj", "model.layers.0.attn.k_proj", "model.layers.0.attn.q_proj.lora_A",
                "model.layers.20.attn.q_proj", "model.layers.0Xattn.q_proj", "lm_head")) {
            assertFalse(target.matcher(m).matches(), m);
        }
        assertFalse(c.path("target_modules").asText().contains("\\Q"), "Python's re has no \\Q..\\E quoting");
    }

    @Test
    void rewritingReplacesTheEarlierCopyAndBadInputLeavesNothing() throws IOException {
        Path target = tmp.resolve("adapters/kd");
        PeftAdapter.write(target, factors(), new TrainableSet.Lora(2, 4), "kd");
        Map<String, float[]> changed = factors();
        changed.put("model.layers.0.attn.q_proj.lora_A.weight", ramp(6, 99));
        PeftAdapter.write(target, changed, new TrainableSet.Lora(2, 4), "kd");
        try (SafeTensors st = SafeTensors.open(target.resolve("adapter_model.safetensors"))) {
            assertArrayEquals(ramp(6, 99), st.floats("base_model.model.model.layers.0.attn.q_proj.lora_A.weight"));
        }
        Path other = tmp.resolve("adapters/bad");
        T2rException e = assertThrows(T2rException.class,
                () -> PeftAdapter.write(other, Map.of("model.layers.0.attn.q_proj.weight", new float[4]), new TrainableSet.Lora(2, 4), "bad"));
        assertTrue(e.getMessage().contains("not a LoRA factor name"), e.getMessage());
        assertThrows(T2rException.class, () -> PeftAdapter.write(other, Map.of(), new TrainableSet.Lora(2, 4), "bad"));
        assertFalse(Files.exists(other));
    }
}
