package gsat2r.gpumodels;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.GateInit;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.io.Json;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.safetensors.DType;
import gsat2r.finetune.recipe.Recipe;
import gsat2r.finetune.recipe.RecipeReader;
import gsat2r.training.MemoryPlan;
import gsat2r.training.Objective;
import gsat2r.training.TrainableSet;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The memory plan of the shipped 3B, 7B and 8B recipes, from the models' real configs (no weights, no GPU):
 * every stage fits an 80 GB H100 with room to spare, and a stage that cannot fit (the whole 8B student
 * trained at once) is refused with the sizes and what to change.
 */
class MemoryPlanTest {

    static final long H100 = 80_000_000_000L, H200 = 143_771L << 20;

    static LlamaConfig teacher(String json) throws Exception {
        JsonNode root = Json.STRICT.readTree(json);
        return LlamaConfig.of(root, "config.json");
    }

    static final String LLAMA_31_8B = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
             "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32, "vocab_size": 128256, "head_dim": 128,
             "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 131072, "tie_word_embeddings": false,
             "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16",
             "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}
            """;
    static final String LLAMA_32_3B = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 3072, "intermediate_size": 8192,
             "num_attention_heads": 24, "num_key_value_heads": 8, "num_hidden_layers": 28, "vocab_size": 128256, "head_dim": 128,
             "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 131072, "tie_word_embeddings": true,
             "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16",
             "rope_scaling": {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}
            """;
    static final String MISTRAL_7B = """
            {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
             "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32, "vocab_size": 32000,
             "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 32768, "sliding_window": 4096,
             "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
            """;

    static GsaConfig student(LlamaConfig t, int slots) {
        return Converter.studentConfig(t, new ConvertOptions(slots, 8, GateInit.RANDOM, 0, DType.BF16, List.of()), "teacher");
    }

    static MemoryPlan plan(String recipeFile, LlamaConfig t, long free) throws Exception {
        Path file = Path.of("..", "recipes", recipeFile);
        Recipe r = RecipeReader.read(file);
        int slots = r.student() instanceof Recipe.Convert(var o) ? o.slots() : 64;
        List<MemoryPlan.StageLoad> stages = r.stages().stream().map(s -> new MemoryPlan.StageLoad(s.name(), s.objective(), s.trainable())).toList();
        MemoryPlan.Request q = new MemoryPlan.Request(t, student(t, slots), r.precision(), r.microBatch(), r.seqLen(), r.recompute(), stages, 1, 0);
        return CudaMemoryPlan.plan(q, "cuda:0 (test)", free, free);
    }

    @Test
    void theShippedRecipesFitAnH100() throws Exception {
        for (Object[] c : new Object[][] {{"llama-3-8b.json", LLAMA_31_8B}, {"mistral-7b.json", MISTRAL_7B}, {"llama-3.2-3b.json", LLAMA_32_3B}}) {
            MemoryPlan p = plan((String) c[0], teacher((String) c[1]), H100);
            for (MemoryPlan.Stage s : p.stages()) {
                System.out.printf(Locale.ROOT, "%s %s: %s%n", c[0], s.name(), s.describe());
                assertTrue(s.totalBytes() < H100 * 9 / 10, c[0] + " " + s.name() + ": " + s.describe());
            }
            assertTrue(p.fits());
        }
    }

    @Test
    void attentionTransferOnTheStudentsStatesKeepsEveryBlocksInputAndStillFits() throws Exception {
        LlamaConfig t = teacher(LLAMA_31_8B);
        Recipe r = RecipeReader.read(Path.of("..", "recipes", "llama-3-8b.json"));
        GsaConfig c = student(t, 64);
        Objective own = new Objective.AttentionTransfer(Objective.HiddenStates.STUDENT);
        long onTeacher = CudaMemoryPlan.activations(c, t, r.precision(), r.microBatch(), r.seqLen(), r.recompute(), new Objective.AttentionTransfer());
        long onStudent = CudaMemoryPlan.activations(c, t, r.precision(), r.microBatch(), r.seqLen(), r.recompute(), own);
        long rows = (long) r.microBatch() * r.seqLen();
        assertEquals((t.numHiddenLayers() + 2L) * rows * t.hiddenSize() * 2, onStudent - onTeacher, "33 residuals and one target, bf16");
        MemoryPlan.Request q = new MemoryPlan.Request(t, c, r.precision(), r.microBatch(), r.seqLen(), r.recompute(),
                List.of(new MemoryPlan.StageLoad("attention-transfer", own, new TrainableSet.Attention())), 1, 0);
        MemoryPlan p = CudaMemoryPlan.plan(q, "cuda:0 (test)", H100, H100);
        assertTrue(p.fits(), p.stages().getFirst().describe());
    }

    @Test
    void theWhole8BStudentAtOnceIsRefusedWithItsSizes() throws Exception {
        LlamaConfig t = teacher(LLAMA_31_8B);
        MemoryPlan.Request q = new MemoryPlan.Request(t, student(t, 64), gsat2r.core.model.Precision.BF16, 2, 1024, true,
                List.of(new MemoryPlan.StageLoad("distill", new gsat2r.training.Objective.Distill(1, 0), new TrainableSet.All())), 1, 0);
        MemoryPlan p = CudaMemoryPlan.plan(q, "cuda:0 (test)", H200, H200);
        assertFalse(p.fits());
        String why = p.refusal();
        assertTrue(why.matches("cuda:0 \\(test\\) cannot hold stage 'distill': teacher weights 14\\.96 GiB \\+ .*fp32 masters .*"
                + "AdamW moments .* GiB = .* GiB, but 140\\.40 GiB of 140\\.40 GiB are free; .*train lora:R instead of whole tensors.*"), why);
    }

    @Test
    void an8BStudentLayoutHasLongOffsetsAndTheCpuReferenceSaysItsLimit() throws Exception {
        GsaLayout layout = new GsaLayout(student(teacher(LLAMA_31_8B), 64));
        assertTrue(layout.size() > Integer.MAX_VALUE, "more than 2^31 parameters: " + layout.size());
        var head = layout.find("lm_head.weight");
        assertTrue(head.offset() > Integer.MAX_VALUE && head.end() == layout.size(), head.toString());
        var e = org.junit.jupiter.api.Assertions.assertThrows(gsat2r.core.T2rException.class, () -> layout.requireArray("student/config.json"));
        assertTrue(e.getMessage().startsWith("student/config.json: this student has 8,") && e.getMessage().contains("(2,147,483,639)"), e.getMessage());
        assertTrue(e.getMessage().endsWith("; use the cuda device (\"device\": \"cuda\" in a recipe, --device cuda elsewhere)"), e.getMessage());
    }
}
