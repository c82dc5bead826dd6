package gsat2r.finetune.recipe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import gsat2r.core.T2rException;
import gsat2r.finetune.student.ConversionOptions;
import gsat2r.training.Objective;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shipped recipes and the JSON Schema: every recipe passes both RecipeReader and the schema (checked
 * by an independent validator), and the schema rejects what the reader rejects, and accepts what it accepts.
 */
class RecipesTest {

    static final Path RECIPES = Path.of("..", "recipes");
    static final JsonMapper JSON = JsonMapper.builder().build();
    static JsonSchema schema;
    static String demo;

    @BeforeAll
    static void load() throws IOException {
        schema = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012)
                .getSchema(JSON.readTree(RECIPES.resolve("recipe.schema.json").toFile()));
        demo = Files.readString(RECIPES.resolve("demo.json"));
    }

    static Set<ValidationMessage> schemaErrors(String json) throws IOException {
        return schema.validate(JSON.readTree(json));
    }

    @Test
    void everyShippedRecipeIsValid() throws IOException {
        List<Path> recipes;
        try (Stream<Path> s = Files.list(RECIPES)) {
            recipes = s.filter(p -> p.toString().endsWith(".json") && !p.getFileName().toString().equals("recipe.schema.json")).sorted().toList();
        }
        assertEquals(List.of("demo.json", "llama-3-8b.json", "llama-3.2-1b.json", "llama-3.2-3b.json", "mistral-7b.json",
                        "recall-llama-gsa.json", "recall-llama-hybrid.json", "tiny-llama-cpu.json", "tiny-llama.json"),
                recipes.stream().map(p -> p.getFileName().toString()).toList());
        for (Path p : recipes) {
            assertEquals(Set.of(), schemaErrors(Files.readString(p)), p.toString());
            Recipe r = RecipeReader.read(p);
            assertFalse(r.description().isBlank(), p + " says what it is");
        }
    }

    @Test
    void theDemoNamesFilesOfThisRepositoryAndItsBudget() {
        Recipe r = RecipeReader.read(RECIPES.resolve("demo.json"));
        RecipeReader.checkPaths(r);                       // models/kjv-llama and data/kjv are in the repository
        assertEquals("cpu", r.device());
        assertEquals(88, r.totalSteps());
        assertEquals(88L * 8 * 256, r.totalSteps() * r.tokensPerStep());
    }

    @Test
    void tinyLlamaStaysWithinTwentyMillionTokens() {
        Recipe r = RecipeReader.read(RECIPES.resolve("tiny-llama.json"));
        long tokens = r.totalSteps() * r.tokensPerStep();
        assertTrue(tokens <= 20_000_000L, tokens + " tokens");
        assertEquals(List.of("attention-transfer", "distill"), r.stages().stream().map(s -> s.objective().type()).toList());
        assertEquals("cuda", r.device());
    }

    @Test
    void theRecallRecipesStayWithinTwentyMillionTokensOnOneGpuAndShareTeacherLengthBatchSlotsAndStages() {
        Recipe gsa = RecipeReader.read(RECIPES.resolve("recall-llama-gsa.json"));
        Recipe hybrid = RecipeReader.read(RECIPES.resolve("recall-llama-hybrid.json"));
        for (Recipe r : List.of(gsa, hybrid)) {
            assertTrue(r.totalSteps() * r.tokensPerStep() <= 20_000_000L, r.file() + ": " + r.totalSteps() * r.tokensPerStep() + " tokens");
            assertEquals("cuda", r.device());
            assertEquals(1024, r.seqLen(), "the teacher's training length");
            assertTrue(r.description().contains("../shared/models/recall-llama") && r.description().contains("../shared/data/english-mix")
                    && r.description().contains("clone lacks"), "says where the teacher and the data are");
            assertEquals(List.of("attention-transfer", "distill"), r.stages().stream().map(s -> s.objective().type()).toList());
        }
        for (String field : List.of("teacher", "seq_len", "batch", "micro_batch", "device")) {
            assertEquals(hybrid.resolved().get(field), gsa.resolved().get(field), field);
        }
        for (int i = 0; i < 2; i++) {
            assertEquals(hybrid.stages().get(i).steps(), gsa.stages().get(i).steps(), "stage " + i + "'s steps");
            assertEquals(hybrid.stages().get(i).trainable(), gsa.stages().get(i).trainable(), "stage " + i + "'s trainable set");
        }
        ConversionOptions g = ((Recipe.Convert) gsa.student()).options(), h = ((Recipe.Convert) hybrid.student()).options();
        assertEquals(List.of(g.slots(), g.gateInit()), List.of(h.slots(), h.gateInit()));
        assertEquals(List.of(), g.keepAttention());
        assertTrue(h.keepAttention().size() <= 2 && !h.keepAttention().isEmpty(), "at most 2 of 8 layers softmax attention: " + h.keepAttention());
    }

    @Test
    void theEveryLayerRecipeTrainsOnShortListsAndNeedlesWithLongerGatesConvolutionsAndWeightedAnswers() {
        // measured on the GPU (docs/recall.md): lists of 4-16 pairs, half bare, in nine sequences of ten, a few as facts
        // among decoys, and needles in the tenth, with the true next token's cross-entropy and the answers weighed 9
        // times, are what taught every-layer GSA both its lookups and its passkeys within the perplexity line;
        // normalizer 32 kept perplexity within 5% of the teacher's where 8 did not; short convolutions at 100 times the rate
        Recipe gsa = RecipeReader.read(RECIPES.resolve("recall-llama-gsa.json"));
        ConversionOptions g = ((Recipe.Convert) gsa.student()).options();
        assertEquals(List.of(32.0, 4), List.of(g.gateNormalizer(), g.shortConv()));
        assertEquals(List.of(0.9, 0.1), gsa.synthetic().stream().map(gsat2r.core.data.synthetic.SyntheticSpec::share).toList());
        assertEquals(new gsat2r.core.data.synthetic.KeyValueLists(4, 16, 0.3, 0.5, 0.05, 1.0), gsa.synthetic().get(0).kind());
        assertEquals(gsat2r.core.data.synthetic.Needles.DEFAULTS, gsa.synthetic().get(1).kind());
        var distill = (Objective.Distill) gsa.stages().get(1).objective();
        assertEquals(List.of(0.9, 1.0, 9.0), List.of(distill.ceWeight(), distill.recallWeight(), distill.answerWeight()));
        assertEquals(Map.of(), distill.answerWeights());
        assertEquals(7e-4, gsa.stages().get(1).lr());
        for (var stage : gsa.stages()) assertEquals(100.0, stage.convLrScale(), stage.name());
        Recipe hybrid = RecipeReader.read(RECIPES.resolve("recall-llama-hybrid.json"));
        assertEquals(0.5, hybrid.synthetic().stream().mapToDouble(gsat2r.core.data.synthetic.SyntheticSpec::share).sum(), 1e-12);
        assertEquals(new gsat2r.core.data.synthetic.KeyValueLists(4, 96, 0.3, 0.5), hybrid.synthetic().get(0).kind());
        assertEquals(new gsat2r.core.data.synthetic.Needles(4, 4, 0.5, 0), hybrid.synthetic().get(1).kind());
        assertEquals(0.9, ((Objective.Distill) hybrid.stages().get(1).objective()).ceWeight());
    }

    @Test
    void schemaAndReaderRejectTheSameMistakes() throws IOException {
        String[][] mistakes = {
                {"\"lr\": 2e-3", "\"lr\": 0"},
                {"\"seq_len\": 256", "\"seq_len\": 0"},
                {"\"seq_len\": 256,", ""},
                {"\"device\": \"cpu\"", "\"device\": \"tpu\""},
                {"\"steps\": 40,", "\"steps\": 40, \"tokens\": 1000,"},
                {"\"steps\": 40,", ""},
                {"\"warmup_steps\": 4,\n      \"min_lr_ratio\": 0.1,\n      \"weight_decay\": 0.0,\n      \"trainable\": \"attention\",\n      \"eval_interval\": 20",
                        "\"warmup_steps\": 4, \"warmup_fraction\": 0.1, \"trainable\": \"attention\""},
                {"\"trainable\": \"attention\",\n      \"eval_interval\": 20", "\"trainable\": \"all\",\n      \"eval_interval\": 20"},
                {"\"trainable\": \"attention\",\n      \"eval_interval\": 20", "\"trainable\": \"attention\", \"temperature\": 2,\n      \"eval_interval\": 20"},
                {"\"trainable\": \"all\",\n      \"temperature\"", "\"trainable\": \"all\", \"lora_alpha\": 4,\n      \"temperature\""},
                {"\"trainable\": \"all\",\n      \"temperature\"", "\"trainable\": \"lora:0\",\n      \"temperature\""},
                {"\"ce_weight\": 0.0", "\"ce_weight\": 2"},
                {"\"ce_weight\": 0.0", "\"ce_weight\": 0.0, \"hidden_states\": \"student\""},
                {"\"trainable\": \"attention\",\n      \"eval_interval\": 20", "\"trainable\": \"attention\", \"hidden_states\": \"own\",\n      \"eval_interval\": 20"},
                {"\"min_lr_ratio\": 0.1,\n      \"weight_decay\": 0.0,\n      \"trainable\": \"all\",\n      \"temperature\"",
                        "\"min_lr_ratio\": 1.5,\n      \"weight_decay\": 0.0,\n      \"trainable\": \"all\",\n      \"temperature\""},
                {"\"eval_tokens\": 4096", "\"eval_tokens\": 4096, \"evaluation_tokens\": 1"},
                {"\"validation\": \"../data/kjv/validation.jsonl\"", "\"validation\": \"../data/kjv/validation.jsonl\", \"validation_fraction\": 0.1"},
                {"\"gate_init\": \"random\"", "\"gate_init\": \"zeros\""},
                {"\"slots\": 64", "\"slots\": 0"},
                {"\"slots\": 64", "\"slots\": 4294967360"},
                {"\"slots\": 64", "\"slots\": 64, \"kv_heads\": -1"},
                {"\"keep_checkpoints\": 2", "\"keep_checkpoints\": 2147483648"},
                {"\"seq_len\": 256", "\"seq_len\": 4294967552"},
                {"\"batch\": 8,\n  \"micro_batch\": 4,", "\"micro_batch\": 4294967296, \"grad_accum\": 4294967296,"},
                {"\"batch\": 8,\n  \"micro_batch\": 4,", "\"batch\": 8, \"micro_batch\": 2305843009213693953, \"grad_accum\": 8,"},
                {"\"batch\": 8,\n  \"micro_batch\": 4,", ""},
                {"\"keep_checkpoints\": 2", "\"keep_checkpoints\": 0"},
                {"\"name\": \"distill\",", "\"name\": \"distill\", \"betas\": [0.9, 1.5],"},
                {"\"validation\": \"../data/kjv/validation.jsonl\"}", "\"validation\": \"../data/kjv/validation.jsonl\", \"synthetic\": [{\"kind\": \"passkey\", \"share\": 0.1}]}"},
                {"\"validation\": \"../data/kjv/validation.jsonl\"}", "\"validation\": \"../data/kjv/validation.jsonl\", \"synthetic\": [{\"kind\": \"needles\", \"share\": 1.5}]}"},
                {"\"validation\": \"../data/kjv/validation.jsonl\"}", "\"validation\": \"../data/kjv/validation.jsonl\", \"synthetic\": [{\"kind\": \"needles\", \"share\": 0.1, \"max_pairs\": 9}]}"},
                {"\"validation\": \"../data/kjv/validation.jsonl\"}", "\"validation\": \"../data/kjv/validation.jsonl\", \"synthetic\": [{\"kind\": \"repeats\"}]}"},
        };
        for (String[] m : mistakes) {
            assertTrue(demo.contains(m[0]), "the mutation must apply: " + m[0]);
            String bad = demo.replace(m[0], m[1]);
            boolean readerRejects;
            try {
                RecipeReader.parse(RECIPES.resolve("demo.json"), bad);
                readerRejects = false;
            } catch (T2rException e) {
                readerRejects = true;
            }
            assertTrue(readerRejects, "RecipeReader accepts: " + m[1]);
            assertFalse(schemaErrors(bad).isEmpty(), "the schema accepts: " + m[1]);
        }
    }

    @Test
    void schemaAndReaderAcceptTheSameVariants() throws IOException {
        String[][] variants = {
                {"\"student\": {\"slots\": 64, \"gate_normalizer\": 8, \"gate_init\": \"random\", \"seed\": 0, \"dtype\": \"float32\"}", "\"student\": \"../models/some-student\""},
                {"\"student\": {\"slots\": 64, \"gate_normalizer\": 8, \"gate_init\": \"random\", \"seed\": 0, \"dtype\": \"float32\"},", ""},
                {"\"data\": {\"train\": \"../data/kjv/train.jsonl.xz\", \"validation\": \"../data/kjv/validation.jsonl\"}", "\"data\": {\"prepared\": \"../data/prepared\"}"},
                {"\"data\": {\"train\": \"../data/kjv/train.jsonl.xz\", \"validation\": \"../data/kjv/validation.jsonl\"}",
                        "\"data\": {\"train\": [\"a.jsonl\", \"b.txt.xz\"], \"validation_fraction\": 0.01, \"text_field\": \"body\"}"},
                {"\"steps\": 40,", "\"tokens\": 100000,"},
                {"\"slots\": 64", "\"slots\": 64, \"kv_heads\": 4, \"short_conv\": 4"},
                {"\"trainable\": \"attention\",\n      \"eval_interval\": 20", "\"trainable\": \"attention\", \"hidden_states\": \"student\",\n      \"eval_interval\": 20"},
                {"\"batch\": 8,\n  \"micro_batch\": 4,", "\"micro_batch\": 4, \"grad_accum\": 2,"},
                {"\"trainable\": \"all\",\n      \"temperature\"", "\"trainable\": \"lora:16\", \"lora_alpha\": 8,\n      \"temperature\""},
                {"\"type\": \"distill\",", "\"type\": \"distill\", \"betas\": [0.9, 0.999], \"eps\": 1e-6, \"grad_clip\": 0,"},
                {"\"name\": \"distill\",\n      \"type\": \"distill\",", "\"name\": \"ft\",\n      \"type\": \"finetune\","},
                {"\"validation\": \"../data/kjv/validation.jsonl\"}", "\"validation\": \"../data/kjv/validation.jsonl\", \"synthetic\": "
                        + "[{\"kind\": \"kv-recall\", \"share\": 0.2, \"max_pairs\": 32}, {\"kind\": \"needles\", \"share\": 0.1, \"max_needles\": 3}, "
                        + "{\"kind\": \"repeats\", \"share\": 0.05}, {\"kind\": \"variables\", \"share\": 0.05, \"max_chain\": 3}]}"},
        };
        for (String[] v : variants) {
            assertTrue(demo.contains(v[0]), "the variant must apply: " + v[0]);
            String good = demo.replace(v[0], v[1]);
            if (v[1].contains("finetune")) good = good.replace(",\n      \"temperature\": 1.0,\n      \"ce_weight\": 0.0", "");
            RecipeReader.parse(RECIPES.resolve("demo.json"), good);
            assertEquals(Set.of(), schemaErrors(good), v[1]);
        }
    }
}
