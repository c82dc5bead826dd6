package gsat2r.finetune.recipe;

import gsat2r.core.T2rException;
import gsat2r.training.Objective;
import gsat2r.training.TrainableSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecipeReaderTest {

    static final Path FILE = Path.of("/runs/recipes/recipe.json");

    static final String GOOD = """
            {
              "teacher": "../models/kjv-llama",
              "student": {"slots": 32, "gate_init": "key-pool", "keep_attention": [1]},
              "data": {"train": "../data/kjv/train.jsonl.xz", "validation": ["../data/kjv/validation.jsonl"]},
              "seq_len": 256,
              "batch": 16, "micro_batch": 4,
              "seed": 7,
              "stages": [
                {"type": "attention-transfer", "steps": 100, "lr": 1e-3, "warmup_steps": 10},
                {"name": "kd", "type": "distill", "tokens": 1000000, "lr": 3e-4, "warmup_fraction": 0.1, "temperature": 2,
                 "ce_weight": 0.25, "trainable": "lora:8", "eval_interval": 50, "betas": [0.9, 0.99], "weight_decay": 0.1},
                {"type": "finetune", "steps": 5, "lr": 1e-5, "trainable": "gates", "grad_clip": 0}
              ]
            }
            """;

    static Recipe parse(String json) {
        return RecipeReader.parse(FILE, json);
    }

    static String error(String json) {
        return assertThrows(T2rException.class, () -> parse(json)).getMessage();
    }

    @Test
    void aFullRecipeResolvesWithDefaultsAndPathsRelativeToTheFile() {
        Recipe r = parse(GOOD);
        assertEquals(Path.of("/runs/models/kjv-llama"), r.teacher());
        Recipe.Convert c = assertInstanceOf(Recipe.Convert.class, r.student());
        assertEquals(32, c.options().slots());
        assertEquals(8.0, c.options().gateNormalizer());
        assertEquals("key-pool", c.options().gateInit());
        assertEquals(java.util.List.of(1), c.options().keepAttention());
        assertEquals(7, c.options().seed(), "the student's seed defaults to the recipe's");
        Recipe.RawData d = assertInstanceOf(Recipe.RawData.class, r.data());
        assertEquals(java.util.List.of(Path.of("/runs/data/kjv/train.jsonl.xz")), d.train());
        assertEquals(java.util.List.of(Path.of("/runs/data/kjv/validation.jsonl")), d.validation());
        assertEquals("text", d.textField());
        assertEquals(16, r.batch());
        assertEquals(4, r.microBatch());
        assertEquals(4, r.gradAccum());
        assertEquals("cpu", r.device());
        assertEquals(500, r.checkpointInterval());
        assertEquals(2, r.keepCheckpoints());
        assertEquals(65536, r.evalTokens());

        Stage at = r.stages().get(0);
        assertEquals("attention-transfer", at.name());
        assertEquals(new Objective.AttentionTransfer(Objective.HiddenStates.TEACHER), at.objective(), "on the teacher's hidden states by default");
        assertFalse(r.resolved().path("stages").get(0).has("hidden_states"), "the default leaves run.json as before");
        Recipe own = parse(GOOD.replace("\"warmup_steps\": 10}", "\"warmup_steps\": 10, \"hidden_states\": \"student\"}"));
        assertEquals(new Objective.AttentionTransfer(Objective.HiddenStates.STUDENT), own.stages().get(0).objective());
        assertEquals("student", own.resolved().path("stages").get(0).path("hidden_states").asText());
        assertInstanceOf(TrainableSet.Attention.class, at.trainable(), "attention transfer trains the attention layers by default");
        assertEquals(0.1, at.minLrRatio());
        assertEquals(0.9, at.beta1());
        assertEquals(0.95, at.beta2());
        assertEquals(1.0, at.gradClip());

        Stage kd = r.stages().get(1);
        assertEquals(245, kd.steps(), "1,000,000 tokens / (16 x 256) rounded up");
        assertEquals(25, kd.warmupSteps(), "0.1 of 245 steps, rounded");
        assertEquals(new Objective.Distill(2, 0.25), kd.objective());
        assertEquals(new Objective.Distill(2, 0.25, 6), parse(GOOD.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"recall_weight\": 6"))
                .stages().get(1).objective(), "recall_weight");
        String lists = GOOD.replace("\"validation\": [\"../data/kjv/validation.jsonl\"]}",
                "\"validation\": [\"../data/kjv/validation.jsonl\"], \"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 0.5}]}");
        assertEquals(new Objective.Distill(2, 0.25, 6, 3), parse(lists.replace("\"ce_weight\": 0.25",
                "\"ce_weight\": 0.25, \"recall_weight\": 6, \"answer_weight\": 3")).stages().get(1).objective(), "answer_weight");
        Recipe byKind = parse(lists.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"answer_weight\": 3, \"answer_weights\": {\"kv-recall\": 5}"));
        assertEquals(new Objective.Distill(2, 0.25, 1, 3, java.util.Map.of("kv-recall", 5.0)), byKind.stages().get(1).objective(), "answer_weights");
        assertEquals("{\"kv-recall\":5.0}", byKind.resolved().path("stages").get(1).path("answer_weights").toString(), "run.json");
        assertTrue(parse(lists).resolved().path("stages").get(1).path("answer_weights").isMissingNode(), "absent without");
        assertEquals(FILE + ": stages[1].answer_weights.needles: the stage's synthetic data has no needles documents, so the weight would weigh nothing",
                error(lists.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"answer_weights\": {\"needles\": 5}")));
        assertEquals(FILE + ": stages[1].answer_weights.needle: unknown field (did you mean needles?)",
                error(lists.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"answer_weights\": {\"needle\": 5}")));
        assertEquals(FILE + ": stages[1].answer_weights.kv-recall: must be in [0, 100] (got -1)",
                error(lists.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"answer_weights\": {\"kv-recall\": -1}")));
        assertEquals(FILE + ": stages[1].answer_weights: must be an object",
                error(lists.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"answer_weights\": 5")));
        assertEquals(FILE + ": stages[1].answer_weights: the stage trains on the corpus alone, whose text has no answers to weigh; "
                + "give it synthetic data (data.synthetic or the stage's synthetic)",
                error(GOOD.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"answer_weights\": {\"needles\": 2}")));
        assertEquals(FILE + ": stages[2].answer_weights: only for distill stages",
                error(lists.replace("\"grad_clip\": 0", "\"grad_clip\": 0, \"answer_weights\": {\"kv-recall\": 2}")));
        assertEquals(new TrainableSet.Lora(8, 16), kd.trainable(), "lora_alpha defaults to 2R");
        assertEquals(0.99, kd.beta2());
        assertEquals(50, kd.evalInterval());
        assertTrue(kd.evaluatesAt(50) && kd.evaluatesAt(245) && !kd.evaluatesAt(51));

        Stage ft = r.stages().get(2);
        assertInstanceOf(Objective.LanguageModeling.class, ft.objective());
        assertEquals(0.0, ft.gradClip());
        assertTrue(ft.evaluatesAt(5) && !ft.evaluatesAt(4), "eval_interval 0: only at the end of the stage");

        assertEquals(350, r.totalSteps());
        assertEquals("/runs/models/kjv-llama", r.resolved().path("teacher").asText());
        assertEquals(245, r.resolved().path("stages").get(1).path("steps").asLong());
        assertTrue(r.needsTeacher());
    }

    @Test
    void studentDirectoryAndPreparedData() {
        Recipe r = parse("""
                {"teacher": "t", "student": "s", "data": {"prepared": "/data/p"}, "seq_len": 8, "micro_batch": 2, "grad_accum": 3,
                 "stages": [{"type": "finetune", "steps": 1, "lr": 1}]}""");
        assertEquals(new Recipe.StudentDir(Path.of("/runs/recipes/s")), r.student());
        assertEquals(new Recipe.PreparedData(Path.of("/data/p")), r.data());
        assertEquals(6, r.batch());
        assertTrue(!r.needsTeacher());
    }

    @Test
    void errorsNameTheFileAndTheField() {
        assertEquals(FILE + ": stages[1].lr: must be > 0 (got -0.1)", error(GOOD.replace("\"lr\": 3e-4", "\"lr\": -0.1")));
        assertEquals(FILE + ": teacher: required", error(GOOD.replace("\"teacher\": \"../models/kjv-llama\",", "")));
        assertEquals(FILE + ": stages[0].warmup_step: unknown field (did you mean warmup_steps?)",
                error(GOOD.replace("\"warmup_steps\": 10", "\"warmup_step\": 10")));
        assertEquals(FILE + ": stages[0].learning_rate: unknown field",
                error(GOOD.replace("\"lr\": 1e-3, \"warmup_steps\"", "\"lr\": 1e-3, \"learning_rate\": 1, \"warmup_steps\"")));
        assertEquals(FILE + ": stages[2].type: must be one of attention-transfer, distill, finetune (got \"pretrain\")",
                error(GOOD.replace("\"type\": \"finetune\"", "\"type\": \"pretrain\"")));
        assertEquals(FILE + ": stages[0].warmup_steps: warmup (100 steps) must be shorter than the stage (100 steps)",
                error(GOOD.replace("\"warmup_steps\": 10", "\"warmup_steps\": 100")));
        assertEquals(FILE + ": batch: must equal micro_batch * grad_accum (16 != 4 * 3)",
                error(GOOD.replace("\"micro_batch\": 4", "\"micro_batch\": 4, \"grad_accum\": 3")));
        assertEquals(FILE + ": stages[2].trainable: must be gates, attention, all or lora:R with a rank R >= 1 (got \"lora:0\")",
                error(GOOD.replace("\"trainable\": \"gates\"", "\"trainable\": \"lora:0\"")));
        assertEquals(FILE + ": stages[2].temperature: only for distill stages",
                error(GOOD.replace("\"grad_clip\": 0", "\"grad_clip\": 0, \"temperature\": 2")));
        assertEquals(FILE + ": stages[0].trainable: attention transfer trains GSA layers only: use gates, attention or lora:R",
                error(GOOD.replace("\"warmup_steps\": 10}", "\"warmup_steps\": 10, \"trainable\": \"all\"}")));
        assertEquals(FILE + ": seq_len: must be an integer >= 1", error(GOOD.replace("\"seq_len\": 256", "\"seq_len\": 2.5")));
        assertEquals(FILE + ": device: must be one of cpu, cuda (got \"tpu\")", error(GOOD.replace("\"seed\": 7", "\"seed\": 7, \"device\": \"tpu\"")));
        assertEquals(FILE + ": stages[1].ce_weight: must be in [0, 1] (got 1.5)", error(GOOD.replace("\"ce_weight\": 0.25", "\"ce_weight\": 1.5")));
        assertEquals(FILE + ": stages[1].recall_weight: must be in [0, 100] (got -2)",
                error(GOOD.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"recall_weight\": -2")));
        assertEquals(FILE + ": stages[0].hidden_states: must be one of teacher, student (got \"mine\")",
                error(GOOD.replace("\"warmup_steps\": 10}", "\"warmup_steps\": 10, \"hidden_states\": \"mine\"}")));
        assertEquals(FILE + ": stages[1].hidden_states: only for attention-transfer stages",
                error(GOOD.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"hidden_states\": \"student\"")));
        assertEquals(FILE + ": stages[2].recall_weight: only for distill stages",
                error(GOOD.replace("\"grad_clip\": 0", "\"grad_clip\": 0, \"recall_weight\": 4")));
        assertEquals(FILE + ": stages[2].answer_weight: only for distill stages",
                error(GOOD.replace("\"grad_clip\": 0", "\"grad_clip\": 0, \"answer_weight\": 4")));
        assertEquals(FILE + ": stages[1].answer_weight: the stage trains on the corpus alone, whose text has no answers to weigh; "
                + "give it synthetic data (data.synthetic or the stage's synthetic)",
                error(GOOD.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"answer_weight\": 2")));
        assertEquals(FILE + ": stages[1].answer_weight: must be in [0, 100] (got 200)",
                error(GOOD.replace("\"ce_weight\": 0.25", "\"ce_weight\": 0.25, \"answer_weight\": 200")));
        assertEquals(FILE + ": stages[1].betas[1]: must be in [0, 1) (got 1.0)", error(GOOD.replace("[0.9, 0.99]", "[0.9, 1.0]")));
        assertEquals(FILE + ": student.gate_init: must be one of random, key-pool (got \"zeros\")",
                error(GOOD.replace("\"key-pool\"", "\"zeros\"")));
        assertEquals(FILE + ": data.validation_fraction: give either validation files or validation_fraction, not both",
                error(GOOD.replace("\"validation\": [", "\"validation_fraction\": 0.1, \"validation\": [")));
        assertEquals(FILE + ": stages[1].steps: give steps or tokens, not both",
                error(GOOD.replace("\"tokens\": 1000000", "\"tokens\": 1000000, \"steps\": 3")));
        assertEquals(FILE + ": stages[0].steps: required (or tokens)", error(GOOD.replace("\"steps\": 100, ", "")));
        assertEquals(FILE + ": stages: must be a non-empty array of stages",
                error("{\"teacher\": \"t\", \"data\": {\"prepared\": \"p\"}, \"seq_len\": 4, \"batch\": 1, \"stages\": []}"));
    }

    @Test
    void severalErrorsAreReportedTogetherOnOneLine() {
        String e = error(GOOD.replace("\"lr\": 3e-4", "\"lr\": 0").replace("\"seq_len\": 256", "\"seq_len\": 0")
                .replace("\"steps\": 5", "\"steps\": -1"));
        assertEquals(FILE + ": seq_len: must be >= 1 (got 0); stages[1].lr: must be > 0 (got 0); stages[2].steps: must be >= 1 (got -1)", e);
        assertTrue(!e.contains("\n"));
    }

    @Test
    void duplicateStageNamesAndBadJsonAreRefused() {
        String twice = GOOD.replace("\"name\": \"kd\", \"type\": \"distill\"", "\"type\": \"attention-transfer\"")
                .replace(", \"temperature\": 2,\n                 \"ce_weight\": 0.25", ",\n                 \"lora_alpha\": 4");
        String e = error(twice);
        assertTrue(e.contains("stages[1].name: \"attention-transfer\" names an earlier stage too"), e);
        assertTrue(error("{\"teacher\": 1,,}").startsWith(FILE + ": not valid JSON (a recipe is JSON, or YAML named .yaml or .yml) (line 1"),
                error("{\"teacher\": 1,,}"));
        assertEquals(FILE + ": not valid JSON (a recipe is JSON, or YAML named .yaml or .yml) (line 1, column 1): Unexpected character ('#')",
                error("# A recipe"), "no parser internals");
        assertTrue(error("{\"teacher\": \"a\", \"teacher\": \"b\"}").contains("Duplicate field 'teacher'"));
        assertEquals(FILE + ": must be a JSON object", error("[1, 2]"));
    }

    @Test
    void tokensAcceptWholeNumbersInExponentForm() {
        Recipe r = parse(GOOD.replace("\"tokens\": 1000000", "\"tokens\": 1e6"));
        assertEquals(245, r.stages().get(1).steps());
        assertEquals(FILE + ": stages[1].tokens: must be an integer >= 1", error(GOOD.replace("\"tokens\": 1000000", "\"tokens\": 1.5")));
    }

    static final Path YAML_FILE = Path.of("/runs/recipes/recipe.yaml");

    static final String GOOD_YAML = """
            # the GOOD recipe, as YAML
            teacher: ../models/kjv-llama
            student: {slots: 32, gate_init: key-pool, keep_attention: [1]}
            data:
              train: ../data/kjv/train.jsonl.xz
              validation: [../data/kjv/validation.jsonl]
            seq_len: 256
            batch: 16
            micro_batch: 4
            seed: 7
            stages:
              - {type: attention-transfer, steps: 100, lr: 1e-3, warmup_steps: 10}
              - name: kd
                type: distill
                tokens: 1000000
                lr: 3.0e-4
                warmup_fraction: 0.1
                temperature: 2
                ce_weight: 0.25
                trainable: "lora:8"
                eval_interval: 50
                betas: [0.9, 0.99]
                weight_decay: 0.1
              - {type: finetune, steps: 5, lr: 1e-5, trainable: gates, grad_clip: 0}
            """;

    @Test
    void yamlRecipesReadAsTheirJson() {
        Recipe json = parse(GOOD), yaml = RecipeReader.parse(YAML_FILE, GOOD_YAML);
        assertEquals(json.resolved(), yaml.resolved());
        assertEquals(json.stages(), yaml.stages());
        assertEquals(YAML_FILE + ": stages[1].lr: must be > 0 (got -0.1)",
                assertThrows(T2rException.class, () -> RecipeReader.parse(YAML_FILE, GOOD_YAML.replace("lr: 3.0e-4", "lr: -0.1"))).getMessage());
        assertEquals(YAML_FILE + ": stages[0].warmup_step: unknown field (did you mean warmup_steps?)",
                assertThrows(T2rException.class, () -> RecipeReader.parse(YAML_FILE, GOOD_YAML.replace("warmup_steps", "warmup_step"))).getMessage());
        String bad = assertThrows(T2rException.class, () -> RecipeReader.parse(YAML_FILE, "teacher: [a\nseq_len: 4\n")).getMessage();
        assertTrue(bad.startsWith(YAML_FILE + ": not valid YAML (line 2"), bad);
        assertTrue(assertThrows(T2rException.class, () -> RecipeReader.parse(YAML_FILE, "teacher: a\nteacher: b\n")).getMessage()
                .contains("Duplicate field 'teacher'"));
        assertEquals(YAML_FILE + ": must be a YAML mapping", assertThrows(T2rException.class, () -> RecipeReader.parse(YAML_FILE, "- 1\n")).getMessage());
        assertTrue(RecipeReader.isYaml(Path.of("r.YML")) && !RecipeReader.isYaml(Path.of("r.json")));
    }

    static Recipe withSet(String... sets) {
        return RecipeReader.parse(FILE, GOOD, RecipeOverrides.parse(java.util.List.of(sets)));
    }

    static String setError(String... sets) {
        return assertThrows(T2rException.class, () -> withSet(sets)).getMessage();
    }

    @Test
    void setChangesFieldsAsIfTheFileSaidIt() {
        Recipe r = withSet("stages.1.lr=1e-4", "seq_len=1024", "stages[2].trainable=all", "student.slots=16", "description=a: b");
        assertEquals(1e-4, r.stages().get(1).lr());
        assertEquals(1024, r.seqLen());
        assertInstanceOf(TrainableSet.All.class, r.stages().get(2).trainable());
        assertEquals(16, assertInstanceOf(Recipe.Convert.class, r.student()).options().slots());
        assertEquals("a: b", r.description(), "not JSON: the text itself");
        // The result is what the file would have said: run.json stores it, --resume compares against it.
        Recipe edited = parse(GOOD.replace("\"lr\": 3e-4", "\"lr\": 1e-4").replace("\"seq_len\": 256", "\"seq_len\": 1024")
                .replace("\"trainable\": \"gates\"", "\"trainable\": \"all\"").replace("\"slots\": 32", "\"slots\": 16")
                .replace("\"seed\": 7", "\"seed\": 7, \"description\": \"a: b\""));
        assertEquals(edited.resolved(), r.resolved());
    }

    @Test
    void setPathsAreRelativeToTheCurrentDirectory() {
        Path cwd = Path.of("").toAbsolutePath();
        Recipe r = withSet("data.train=more.jsonl.zst", "teacher=models/t");
        assertEquals(java.util.List.of(cwd.resolve("more.jsonl.zst")), assertInstanceOf(Recipe.RawData.class, r.data()).train());
        assertEquals(cwd.resolve("models/t"), r.teacher());
        Recipe two = withSet("data.train=[\"a.jsonl\", \"/abs/b.jsonl.gz\"]");
        assertEquals(java.util.List.of(cwd.resolve("a.jsonl"), Path.of("/abs/b.jsonl.gz")),
                assertInstanceOf(Recipe.RawData.class, two.data()).train());
    }

    /** Only problems that --set made alone are a usage error led by --set; with a problem of the file's own, the file leads. */
    @Test
    void setProblemsLeadOnlyWhenSetMadeThemAll() {
        String mixed = assertThrows(T2rException.class, () -> RecipeReader.parse(FILE, GOOD.replace("\"steps\": 5", "\"steps\": -5"),
                RecipeOverrides.parse(java.util.List.of("stages.1.lr=-1")))).getMessage();
        assertTrue(mixed.startsWith(FILE + ": "), mixed);
        assertTrue(mixed.contains("stages[1].lr: must be > 0 (got -1) (from --set)") && mixed.contains("stages[2].steps"), mixed);
        String whole = setError("stages.1={\"type\": \"distill\", \"tokens\": 1000, \"lr\": -1}");
        assertTrue(whole.startsWith("--set: " + FILE + ": stages[1].lr: must be > 0"), "a field inside an object --set gave: " + whole);
    }

    @Test
    void setErrorsNameThePath() {
        assertEquals("--set: " + FILE + ": stages[1].lr: must be > 0 (got -1)", setError("stages.1.lr=-1"));
        assertEquals("--set: " + FILE + ": stages[0].lrr: unknown field (did you mean lr?)", setError("stages.0.lrr=1"));
        assertEquals("--set stages.5.lr=1e-4: " + FILE + ": stages has 3 elements (indices 0 to 2)", setError("stages.5.lr=1e-4"));
        assertEquals("--set seq_len.x=1: " + FILE + ": seq_len is a number, not an object", setError("seq_len.x=1"));
        assertEquals("--set data.train.0=x: " + FILE + ": data.train is a string, not an array", setError("data.train.0=x"));
        assertEquals("--set lr: expected PATH=VALUE, e.g. stages.1.lr=1e-4", setError("lr"));
        assertEquals("--set stages..lr=1: 'stages..lr' is not a field path (e.g. seq_len, data.train, stages.1.lr)", setError("stages..lr=1"));
        assertEquals("--set 0.lr=1: a path starts with a field name, not an index", setError("0.lr=1"));
        assertEquals("--set teacher=a\\0b: not a valid path (Nul character not allowed)", setError("teacher=a\u0000b"));
        assertEquals("--set: " + FILE + ": data.train: - (standard input) cannot be read again on --resume; tokenize it with t2r data prepare --input -"
                + " and give data.prepared", setError("data.train=-"));
    }

    /** A path that --set gave and that is missing is reported as --set's, led by it when it is the only problem. */
    @Test
    void missingPathsFromSetAreSetProblems(@TempDir Path dir) throws IOException {
        Path recipeFile = dir.resolve("recipes/recipe.json");
        Files.createDirectories(dir.resolve("models/kjv-llama"));
        Files.writeString(dir.resolve("models/kjv-llama/config.json"), "{}");
        Files.createDirectories(dir.resolve("data/kjv"));
        Files.writeString(dir.resolve("data/kjv/train.jsonl.xz"), "");
        Files.writeString(dir.resolve("data/kjv/validation.jsonl"), "");
        RecipeReader.checkPaths(RecipeReader.parse(recipeFile, GOOD));   // every path there

        Path missing = dir.resolve("elsewhere");
        Recipe teacherSet = RecipeReader.parse(recipeFile, GOOD, RecipeOverrides.parse(java.util.List.of("teacher=" + missing)));
        assertEquals("--set: " + recipeFile + ": teacher: " + missing + ": no such directory",
                assertThrows(T2rException.class, () -> RecipeReader.checkPaths(teacherSet)).getMessage());

        Files.delete(dir.resolve("data/kjv/validation.jsonl"));
        String mixed = assertThrows(T2rException.class, () -> RecipeReader.checkPaths(teacherSet)).getMessage();
        assertEquals(recipeFile + ": teacher: " + missing + ": no such directory (from --set); data.validation[0]: "
                + dir.resolve("data/kjv/validation.jsonl") + ": no such file", mixed);
    }

    /** Fuzz: random --set arguments give a recipe or a one-line T2rException, nothing else. */
    @Test
    void randomSetArgumentsFailCleanly() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(11);
        String[] paths = {"seq_len", "stages.1.lr", "stages[0]", "stages.9.x", "data.train", "data", "student.keep_attention.0", "a.b.c",
                "stages.-1.lr", "stages..x", "", "=", "[0]", "student", "data.train[0]", "seed"};
        String[] values = {"1", "-1", "1e-4", "\"x\"", "[1,2]", "{}", "null", "true", "[", "{\"a\":", "-", "a=b", "1e999", "\u0000"};
        int ok = 0;
        for (int i = 0; i < 2000; i++) {
            String arg = paths[random.nextInt(paths.length)] + (random.nextInt(8) == 0 ? "" : "=") + values[random.nextInt(values.length)];
            try {
                withSet(arg);
                ok++;
            } catch (T2rException e) {
                assertTrue(!e.getMessage().contains("\n") && !e.getMessage().isBlank(), e.getMessage());
            } catch (RuntimeException e) {
                throw new AssertionError("--set " + arg + ": " + e, e);
            }
        }
        assertTrue(ok > 0, "some are valid");
    }

    @Test
    void syntheticDataResolvesWithEachKindsDefaults() {
        Recipe r = parse(GOOD.replace("\"validation\": [\"../data/kjv/validation.jsonl\"]}",
                "\"validation\": [\"../data/kjv/validation.jsonl\"], \"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 0.2, \"max_pairs\": 32}, "
                        + "{\"kind\": \"needles\", \"share\": 0.15}, {\"kind\": \"repeats\", \"share\": 0.05}, {\"kind\": \"variables\", \"share\": 0.001}]}"));
        assertEquals(4, r.synthetic().size());
        assertEquals(new gsat2r.core.data.synthetic.KeyValueLists(4, 32, 0.3, 0), r.synthetic().get(0).kind());
        assertEquals(0.2, r.synthetic().get(0).share());
        assertEquals(gsat2r.core.data.synthetic.Needles.DEFAULTS, r.synthetic().get(1).kind());
        assertEquals(gsat2r.core.data.synthetic.RepeatedSpans.DEFAULTS, r.synthetic().get(2).kind());
        assertEquals(gsat2r.core.data.synthetic.VariableChains.DEFAULTS, r.synthetic().get(3).kind());
        var s = r.resolved().path("data").path("synthetic");
        assertEquals("{\"kind\":\"kv-recall\",\"share\":0.2,\"min_pairs\":4,\"max_pairs\":32,\"gap_share\":0.3}", s.get(0).toString());
        assertEquals("{\"kind\":\"needles\",\"share\":0.15,\"max_needles\":4,\"max_values\":4}", s.get(1).toString());
        Recipe shares = parse(GOOD.replace("\"validation\": [\"../data/kjv/validation.jsonl\"]}",
                "\"validation\": [\"../data/kjv/validation.jsonl\"], \"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 0.2, \"bare_share\": 0.5, \"fact_share\": 0.25, \"decoy_share\": 0.5}, "
                        + "{\"kind\": \"needles\", \"share\": 0.15, \"filler_share\": 0.25, \"decoy_share\": 0.75}]}"));
        assertEquals(new gsat2r.core.data.synthetic.KeyValueLists(4, 64, 0.3, 0.5, 0.25, 0.5), shares.synthetic().get(0).kind());
        assertEquals(new gsat2r.core.data.synthetic.Needles(4, 4, 0.25, 0.75), shares.synthetic().get(1).kind());
        var ss = shares.resolved().path("data").path("synthetic");
        assertEquals(0.5, ss.get(0).path("bare_share").asDouble());
        assertEquals(0.25, ss.get(0).path("fact_share").asDouble());
        assertEquals(0.5, ss.get(0).path("decoy_share").asDouble());
        assertEquals(0.25, ss.get(1).path("filler_share").asDouble());
        assertEquals(0.75, ss.get(1).path("decoy_share").asDouble());
        assertTrue(parse(GOOD).synthetic().isEmpty());
        assertTrue(parse(GOOD).resolved().path("data").path("synthetic").isMissingNode(), "a recipe without synthetic data resolves as before");
        Recipe prepared = parse(GOOD.replace("\"data\": {\"train\": \"../data/kjv/train.jsonl.xz\", \"validation\": [\"../data/kjv/validation.jsonl\"]}",
                "\"data\": {\"prepared\": \"p\", \"synthetic\": [{\"kind\": \"repeats\", \"share\": 1}]}"));
        assertEquals(1.0, prepared.synthetic().getFirst().share());
    }

    @Test
    void badSyntheticEntriesAreNamedByTheirPlace() {
        String base = GOOD.replace("\"validation\": [\"../data/kjv/validation.jsonl\"]}", "\"validation\": [\"../data/kjv/validation.jsonl\"], \"synthetic\": %s}");
        assertTrue(error(base.formatted("[{\"kind\": \"passkeys\", \"share\": 0.1}]"))
                .contains("data.synthetic[0].kind: must be one of kv-recall, needles, repeats, variables (got \"passkeys\")"));
        assertTrue(error(base.formatted("[{\"kind\": \"needles\", \"share\": 0.12345}]"))
                .contains("data.synthetic[0].share: must be a multiple of 0.001 (got 0.12345)"));
        assertTrue(error(base.formatted("[{\"kind\": \"needles\", \"share\": 0.6}, {\"kind\": \"repeats\", \"share\": 0.5}]"))
                .contains("data.synthetic: the shares add up to 1.1, more than 1"));
        assertTrue(error(base.formatted("[{\"kind\": \"needles\", \"share\": 0.1, \"max_pairs\": 3}]"))
                .contains("data.synthetic[0].max_pairs: unknown field"));
        assertTrue(error(base.formatted("[{\"kind\": \"kv-recall\", \"share\": 0.1, \"min_pairs\": 9, \"max_pairs\": 3}]"))
                .contains("data.synthetic[0]: kv-recall: need 1 <= min_pairs <= max_pairs (got 9, 3)"));
        assertTrue(error(base.formatted("[{\"kind\": \"repeats\"}]")).contains("data.synthetic[0].share: required"));
        assertTrue(error(base.formatted("[{\"kind\": \"kv-recall\", \"share\": 0.1, \"bare_share\": 2}]"))
                .contains("data.synthetic[0].bare_share: must be in [0, 1] (got 2"));
        assertTrue(error(base.formatted("[{\"kind\": \"kv-recall\", \"share\": 0.1, \"bare_share\": 0.5, \"fact_share\": 0.75}]"))
                .contains("data.synthetic[0]: kv-recall: bare_share and fact_share add up to 1.25, more than 1"));
        assertTrue(error(base.formatted("[{\"kind\": \"repeats\", \"share\": 0.1, \"filler_share\": 0.5}]"))
                .contains("data.synthetic[0].filler_share: unknown field"));
        assertTrue(error(base.formatted("{\"kind\": \"repeats\"}")).contains("data.synthetic: must be an array"));
    }

    @Test
    void aStageMayHaveItsOwnSyntheticMix() {
        String staged = GOOD.replace("{\"type\": \"finetune\", \"steps\": 5,", "{\"type\": \"finetune\", \"synthetic\": %s, \"steps\": 5,");
        Recipe r = parse(staged.formatted("[{\"kind\": \"needles\", \"share\": 0.05, \"decoy_share\": 1}, {\"kind\": \"kv-recall\", \"share\": 0.95}]"));
        assertNull(r.stages().get(0).synthetic(), "a stage without its own mix has the recipe's");
        var own = r.stages().get(2).synthetic();
        assertEquals(2, own.size());
        assertEquals(new gsat2r.core.data.synthetic.Needles(4, 4, 0, 1), own.get(0).kind());
        assertEquals(0.95, own.get(1).share());
        assertEquals("{\"kind\":\"needles\",\"share\":0.05,\"max_needles\":4,\"max_values\":4,\"decoy_share\":1.0}",
                r.resolved().path("stages").get(2).path("synthetic").get(0).toString());
        assertTrue(r.resolved().path("stages").get(0).path("synthetic").isMissingNode(), "run.json of stages without a mix stays as before");
        assertEquals(java.util.List.of(), parse(staged.formatted("[]")).stages().get(2).synthetic(), "[]: the corpus alone");
        assertTrue(error(staged.formatted("[{\"kind\": \"needles\", \"share\": 0.12345}]"))
                .contains("stages[2].synthetic[0].share: must be a multiple of 0.001 (got 0.12345)"));
        assertTrue(error(staged.formatted("{\"kind\": \"repeats\"}")).contains("stages[2].synthetic: must be an array"));
    }

    @Test
    void aStageMaySwitchItsMixAfterSomeTokens() {
        String sw = GOOD.replace("\"ce_weight\": 0.25,", "\"ce_weight\": 0.25, \"synthetic_switch\": %s,");
        Recipe r = parse(sw.formatted("{\"tokens\": 500000, \"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 0.5}]}"));
        Stage kd = r.stages().get(1);
        long perStep = r.tokensPerStep();
        assertEquals((500000 + perStep - 1) / perStep, kd.mixSwitch().afterSteps(), "tokens round up to whole steps");
        assertEquals(0.5, kd.mixSwitch().synthetic().get(0).share());
        assertNull(kd.synthetic(), "before the switch the stage has the recipe's mix");
        assertEquals(kd.mixSwitch().afterSteps(), r.resolved().path("stages").get(1).path("synthetic_switch").path("after_steps").asLong());
        assertTrue(r.everySynthetic().contains(kd.mixSwitch().synthetic().get(0)), "the run loads what the switch's mix needs");
        assertNull(r.stages().get(0).mixSwitch());
        assertTrue(r.resolved().path("stages").get(0).path("synthetic_switch").isMissingNode(), "run.json of stages without one stays as before");
        assertEquals(7, parse(sw.formatted("{\"after_steps\": 7, \"synthetic\": []}")).stages().get(1).mixSwitch().afterSteps());
        java.util.Map<String, String> bad = java.util.Map.of(
                "{\"tokens\": 2000000, \"synthetic\": []}", "stages[1].synthetic_switch.tokens: the switch (after ",
                "{\"tokens\": 5, \"after_steps\": 2, \"synthetic\": []}", "stages[1].synthetic_switch.tokens: give tokens or after_steps, not both",
                "{\"tokens\": 5}", "stages[1].synthetic_switch.synthetic: required",
                "{\"synthetic\": []}", "stages[1].synthetic_switch.tokens: required (or after_steps)",
                "{\"tokens\": 5, \"synthetic\": [], \"share\": 1}", "stages[1].synthetic_switch.share: unknown field",
                "{\"tokens\": 0, \"synthetic\": []}", "stages[1].synthetic_switch.tokens: must be",
                "[]", "stages[1].synthetic_switch: must be an object");
        bad.forEach((json, message) -> assertTrue(error(sw.formatted(json)).contains(message), json + " gives " + error(sw.formatted(json))));
    }

    @Test
    void keptLayersMayHaveAWindow() {
        Recipe r = parse(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1, \"3:256\"]"));
        Recipe.Convert c = assertInstanceOf(Recipe.Convert.class, r.student());
        assertEquals(java.util.List.of(1, 3), c.options().keepAttention());
        assertEquals(java.util.Map.of(3, 256), c.options().windows());
        assertEquals("[1,\"3:256\"]", r.resolved().path("student").path("keep_attention").toString());
        for (String bad : java.util.List.of("\"3:0\"", "\"3:\"", "\"x\"", "-1", "2.5")) {
            assertTrue(error(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1, " + bad + "]"))
                    .contains("student.keep_attention[1]: must be a layer index >= 0 or \"LAYER:WINDOW\""), bad);
        }
        assertTrue(error(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1, \"1:64\"]")).contains("layer 1 listed twice"));
    }

    /**
     * student.short_conv and short_conv_init: read, resolved only when convolutions are asked for (so earlier runs'
     * run.json stays the same), refused below 0 or with an init other than identity or random.
     */
    @Test
    void shortConvolutions() {
        Recipe r = parse(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1], \"short_conv\": 4"));
        assertEquals(4, assertInstanceOf(Recipe.Convert.class, r.student()).options().shortConv());
        assertEquals(4, r.resolved().path("student").path("short_conv").asInt());
        assertEquals("identity", r.resolved().path("student").path("short_conv_init").asText());
        Recipe random = parse(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1], \"short_conv\": 4, \"short_conv_init\": \"random\""));
        assertEquals("random", assertInstanceOf(Recipe.Convert.class, random.student()).options().shortConvInit());
        assertEquals(gsat2r.converter.ShortConvInit.RANDOM,
                gsat2r.finetune.student.GsaStudentConverter.options(assertInstanceOf(Recipe.Convert.class, random.student()).options()).shortConvInit());
        assertTrue(error(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1], \"short_conv\": 4, \"short_conv_init\": \"shift\""))
                .contains("student.short_conv_init"));
        Recipe plain = parse(GOOD);
        assertEquals(0, assertInstanceOf(Recipe.Convert.class, plain.student()).options().shortConv());
        assertTrue(plain.resolved().path("student").path("short_conv").isMissingNode());
        assertTrue(error(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1], \"short_conv\": -1"))
                .contains("student.short_conv"));
    }

    /** Sizes are refused above 2^20 with one line each, before batch = micro_batch · grad_accum can overflow. */
    @Test
    void sizesAreBoundedBeforeTheyMultiply() {
        assertTrue(error(GOOD.replace("\"seq_len\": 256", "\"seq_len\": 4294967552"))
                .contains("seq_len: must be at most 1048576 (got 4294967552)"));
        String e = error(GOOD.replace("\"batch\": 16, \"micro_batch\": 4", "\"micro_batch\": 4294967296, \"grad_accum\": 4294967296"));
        assertTrue(e.contains("micro_batch: must be at most 1048576") && e.contains("grad_accum: must be at most 1048576"), e);
        assertEquals(1, e.lines().count());
        assertTrue(error(GOOD.replace("\"batch\": 16, \"micro_batch\": 4", "\"batch\": 8, \"micro_batch\": 2305843009213693953, \"grad_accum\": 8"))
                .contains("micro_batch: must be at most 1048576"));
    }

    /** student.kv_heads: read, passed to the converter, resolved only when given (earlier runs' run.json stays the same), refused below 0. */
    @Test
    void kvHeads() {
        Recipe r = parse(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1], \"kv_heads\": 4"));
        var options = assertInstanceOf(Recipe.Convert.class, r.student()).options();
        assertEquals(4, options.kvHeads());
        assertEquals(4, gsat2r.finetune.student.GsaStudentConverter.options(options).kvHeads());
        assertEquals(4, r.resolved().path("student").path("kv_heads").asInt());
        Recipe plain = parse(GOOD);
        assertEquals(0, assertInstanceOf(Recipe.Convert.class, plain.student()).options().kvHeads());
        assertTrue(plain.resolved().path("student").path("kv_heads").isMissingNode());
        assertTrue(error(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1], \"kv_heads\": -2"))
                .contains("student.kv_heads"));
        assertTrue(error(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1], \"kv_heads\": \"all\""))
                .contains("student.kv_heads"));
        for (String field : java.util.List.of("kv_heads", "short_conv")) {
            assertTrue(error(GOOD.replace("\"keep_attention\": [1]", "\"keep_attention\": [1], \"" + field + "\": 4294967300"))
                    .contains("student." + field + ": must be at most 2147483647 (got 4294967300)"), field);
        }
        assertTrue(error(GOOD.replace("\"slots\": 32", "\"slots\": 4294967300"))
                .contains("student.slots: must be at most 2147483647 (got 4294967300)"));
    }

    /** A stage's conv_lr_scale: 1 unless given (and then absent from the resolved recipe), in the step's AdamW, refused out of range. */
    @Test
    void convolutionsLearningRateScale() {
        Recipe plain = parse(GOOD);
        assertEquals(1.0, plain.stages().get(0).convLrScale());
        assertTrue(plain.resolved().path("stages").get(0).path("conv_lr_scale").isMissingNode());
        Recipe r = parse(GOOD.replaceFirst("\"lr\": ", "\"conv_lr_scale\": 30, \"lr\": "));
        assertEquals(30.0, r.stages().get(0).convLrScale());
        assertEquals(30.0, r.resolved().path("stages").get(0).path("conv_lr_scale").asDouble());
        assertEquals(30.0, r.stages().get(0).adamW(1, 1.0).convLrScale());
        assertTrue(error(GOOD.replaceFirst("\"lr\": ", "\"conv_lr_scale\": 0, \"lr\": ")).contains("conv_lr_scale"));
        assertTrue(error(GOOD.replaceFirst("\"lr\": ", "\"conv_lr_scale\": 5000, \"lr\": ")).contains("conv_lr_scale"));
    }

    @Test
    void aBinaryFileIsNotARecipe(@TempDir Path dir) throws IOException {
        Path f = Files.write(dir.resolve("r.json"), new byte[] {(byte) 0xFF, 0, 1});
        assertEquals(f + ": not UTF-8 text (a recipe is JSON or YAML)", assertThrows(T2rException.class, () -> RecipeReader.read(f)).getMessage());
    }
}
