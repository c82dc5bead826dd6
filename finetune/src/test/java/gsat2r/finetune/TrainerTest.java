package gsat2r.finetune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.training.Device;
import gsat2r.training.BackendOutOfMemoryException;
import gsat2r.training.BackendRequest;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainingBackend;
import gsat2r.finetune.toy.ToyBackend;
import gsat2r.finetune.toy.ToyDevice;
import gsat2r.finetune.toy.ToyConverter;
import gsat2r.finetune.toy.ToyRuns;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {

    @TempDir
    static Path root;
    @TempDir
    Path tmp;

    static final JsonMapper JSON = JsonMapper.builder().build();
    static final Plugins TOY = new Plugins(List.<Device>of(new ToyDevice()), List.of(new ToyConverter()));

    @BeforeAll
    static void files() {
        ToyRuns.create(root);
    }

    static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) lines.add(JSON.readTree(l));
        return lines;
    }

    static List<JsonNode> steps(List<JsonNode> metrics, String stage) {
        return metrics.stream().filter(m -> m.path("type").asText().equals("step") && m.path("stage").asText().equals(stage)).toList();
    }

    static double meanLoss(List<JsonNode> steps, int from, int to) {
        return mean(steps, "loss", from, to);
    }

    static double mean(List<JsonNode> steps, String term, int from, int to) {
        return steps.subList(from, to).stream().mapToDouble(s -> s.path(term).asDouble()).average().orElseThrow();
    }

    static Trainer.Result train(Path recipe, Path out, boolean resume, TrainingListener listener) {
        return Trainer.run(new Trainer.Options(recipe, out, resume, false), TOY, listener);
    }

    /** metrics.jsonl without the wall-clock field, line by line. */
    static List<String> withoutTimes(Path out) throws IOException {
        List<String> lines = new ArrayList<>();
        for (JsonNode n : metrics(out)) {
            ((ObjectNode) n).remove("elapsed_s");
            lines.add(n.toString());
        }
        return lines;
    }

    @Test
    void everyStageLowersItsLossAndTheRunWritesMetricsCheckpointsAndTheStudent() throws IOException {
        Path recipe = ToyRuns.recipe(root, "full.json", 30, 10);
        Path out = tmp.resolve("run");
        // Files of the teacher's tokenizer and chat format that final/ must carry, whatever reads them.
        Path teacher = root.resolve("teacher");
        Files.writeString(teacher.resolve("chat_template.jinja"), "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}");
        Files.write(teacher.resolve("tokenizer.model"), new byte[] {10, 3, 'a', 'b', 'c'});
        Files.createDirectories(teacher.resolve("additional_chat_templates"));
        Files.writeString(teacher.resolve("additional_chat_templates/tool_use.jinja"), "{{ tools }}");
        List<String> notes = new ArrayList<>();
        List<TrainingListener.StepReport> reports = new ArrayList<>();
        Trainer.Result r = train(recipe, out, false, new TrainingListener() {
            @Override
            public void note(String message) {
                notes.add(message);
            }

            @Override
            public void step(StepReport report) {
                reports.add(report);
            }
        });
        assertEquals(90, r.globalSteps());
        assertEquals(90 * 4 * 24, r.tokens());
        List<JsonNode> m = metrics(out);
        List<JsonNode> at = steps(m, "at"), kd = steps(m, "kd"), ft = steps(m, "ft");
        assertEquals(30, at.size());
        assertEquals(30, kd.size());
        assertEquals(30, ft.size());
        // Every stage learns: the mean loss of its last 5 steps is well below that of its first 5.
        assertTrue(meanLoss(at, 25, 30) < 0.5 * meanLoss(at, 0, 5), "attention transfer: " + meanLoss(at, 0, 5) + " -> " + meanLoss(at, 25, 30));
        assertTrue(meanLoss(kd, 25, 30) < meanLoss(kd, 0, 5), "distill: " + meanLoss(kd, 0, 5) + " -> " + meanLoss(kd, 25, 30));
        assertTrue(meanLoss(ft, 25, 30) < 0.9 * meanLoss(ft, 0, 5), "finetune: " + meanLoss(ft, 0, 5) + " -> " + meanLoss(ft, 25, 30));

        JsonNode first = at.getFirst();
        for (String f : List.of("stage", "stage_index", "step", "global_step", "loss", "mse.0", "mse.1", "lr", "grad_norm", "tokens", "elapsed_s")) {
            assertTrue(first.has(f), "step line lacks " + f + ": " + first);
        }
        assertEquals(0.005, first.path("lr").asDouble(), 1e-15, "warmup: step 1 of 2 runs at peak/2");
        assertEquals(96, first.path("tokens").asLong());
        assertEquals(first.path("mse.0").asDouble() + first.path("mse.1").asDouble(), first.path("loss").asDouble(), 1e-12);
        JsonNode kdFirst = kd.getFirst();
        assertTrue(kdFirst.has("kl") && kdFirst.has("ce"), kdFirst.toString());
        assertEquals(31, kdFirst.path("global_step").asLong());
        assertEquals(0.1 * 0.003, ft.getLast().path("lr").asDouble(), 1e-15, "the last step runs at min_lr_ratio · lr");

        List<JsonNode> evals = m.stream().filter(x -> x.path("type").asText().equals("eval")).toList();
        // at: steps 5..30 every 5 (6), kd: the same (6), ft: only the end (1).
        assertEquals(13, evals.size());
        JsonNode kdEval = evals.stream().filter(e -> e.path("stage").asText().equals("kd")).findFirst().orElseThrow();
        for (String f : List.of("val_loss", "val_kl", "val_ce", "val_ppl", "val_top1", "positions")) assertTrue(kdEval.has(f), f + ": " + kdEval);
        assertEquals(96, kdEval.path("positions").asLong(), "eval_tokens 96 = 4 sequences of 24");
        assertEquals(Math.exp(kdEval.path("val_ce").asDouble()), kdEval.path("val_ppl").asDouble(), 1e-9);
        assertTrue(kdEval.path("val_top1").asDouble() >= 0 && kdEval.path("val_top1").asDouble() <= 1);
        JsonNode atEvals0 = evals.get(0), atEvals5 = evals.get(5);
        assertTrue(atEvals5.path("val_loss").asDouble() < atEvals0.path("val_loss").asDouble(), "validation MSE falls during attention transfer");

        try (Stream<Path> s = Files.list(out.resolve("checkpoints"))) {
            assertEquals(List.of("step-00000080", "step-00000090"), s.map(p -> p.getFileName().toString()).sorted().toList(),
                    "checkpoints every 10 steps, the newest 2 kept");
        }
        Path ckpt = out.resolve("checkpoints/step-00000090");
        JsonNode trainer = JSON.readTree(ckpt.resolve("trainer.json").toFile());
        assertEquals(90, trainer.path("global_step").asLong());
        assertEquals(2, trainer.path("stage").asInt());
        assertEquals(30, trainer.path("stage_step").asLong());
        assertEquals(360, trainer.path("sequences").asLong());
        try (SafeTensors st = SafeTensors.open(ckpt.resolve("state.safetensors"))) {
            assertTrue(st.has("param/lm_head.weight") && st.has("adam_m/lm_head.weight"));
        }

        Path fin = out.resolve("final");
        assertEquals(fin, r.finalDir());
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "training.json")) {
            assertTrue(Files.isRegularFile(fin.resolve(f)), f);
        }
        for (String f : List.of("tokenizer.json", "chat_template.jinja", "tokenizer.model", "additional_chat_templates/tool_use.jinja")) {
            assertEquals(-1L, Files.mismatch(teacher.resolve(f), fin.resolve(f)), f);
        }
        Path adapter = fin.resolve("adapters/kd");
        JsonNode peft = JSON.readTree(adapter.resolve("adapter_config.json").toFile());
        assertEquals("LORA", peft.path("peft_type").asText());
        assertEquals(4, peft.path("r").asInt());
        assertEquals(-1L, Files.mismatch(out.resolve("adapters/kd/adapter_model.safetensors"), adapter.resolve("adapter_model.safetensors")));
        try (SafeTensors st = SafeTensors.open(adapter.resolve("adapter_model.safetensors"))) {
            assertTrue(st.has("base_model.model.model.layers.0.attn.q_proj.lora_B.weight"), st.tensors().keySet().toString());
        }
        assertTrue(Files.isDirectory(out.resolve("student-init")), "the converted student is kept for --resume");
        try (Stream<Path> events = Files.list(out.resolve("tensorboard"))) {
            assertEquals(1, events.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).count());
        }
        assertTrue(Files.readString(out.resolve("loss.svg")).contains("stage kd"), "the loss curves, drawn at the end");
        assertEquals(90, reports.size());
        assertEquals(90, reports.getLast().globalStep());
        assertTrue(reports.getLast().tokensPerSecond() > 0);
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("converting ")), notes.toString());
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("stage 2/3 'kd' (distill): 30 steps, trainable lora:4")), notes.toString());
    }

    @Test
    void distillationAloneClosesTheGapToTheTeacher() throws IOException {
        Path recipe = root.resolve("kd-only.json");
        Files.writeString(recipe, """
                {"teacher": "teacher", "student": {"seed": 5}, "data": {"prepared": "data"}, "seq_len": 24, "batch": 4,
                 "checkpoint_interval": 0, "eval_tokens": 96,
                 "stages": [{"type": "distill", "steps": 40, "lr": 0.01, "warmup_steps": 4, "trainable": "attention"}]}
                """);
        Path out = tmp.resolve("kd");
        Trainer.Result r = train(recipe, out, false, new TrainingListener() {});
        List<JsonNode> kd = steps(metrics(out), "distill");
        double before = mean(kd, "kl", 0, 5), after = mean(kd, "kl", 35, 40);
        assertTrue(after < 0.5 * before, "KL(teacher || student): " + before + " -> " + after);
        assertEquals(mean(kd, "kl", 0, 5), mean(kd, "loss", 0, 5), 1e-12, "temperature 1, ce_weight 0: the loss is the KL");
        assertTrue(r.lastEvaluation().get("val_top1") > 0.5, "top-1 agreement with the teacher: " + r.lastEvaluation());
        assertFalse(Files.exists(out.resolve("checkpoints")), "checkpoint_interval 0 writes none");
    }

    /** A listener that fails at a global step: the trainer stops there as if the process had died. */
    static final class Crash extends RuntimeException {}

    static TrainingListener crashAt(long globalStep) {
        return new TrainingListener() {
            @Override
            public void step(StepReport r) {
                if (r.globalStep() == globalStep) throw new Crash();
            }
        };
    }

    @Test
    void aResumedRunEndsBitIdenticalToAnUninterruptedOne() throws IOException {
        Path recipe = ToyRuns.recipe(root, "resume.json", 10, 5);
        Path whole = tmp.resolve("whole"), broken = tmp.resolve("broken");
        train(recipe, whole, false, new TrainingListener() {});
        // Stopped in stage 1 (after checkpoint 5), inside the LoRA stage (after checkpoint 15), and in stage 3 after
        // checkpoint 20, the last step of the LoRA stage (adapters not yet merged): each resume continues exactly.
        for (long crash : new long[] {8, 17, 23}) {
            assertThrows(Crash.class, () -> train(recipe, broken, Files.exists(broken.resolve("run.json")), crashAt(crash)));
        }
        Trainer.Result r = train(recipe, broken, true, new TrainingListener() {});
        assertFalse(r.alreadyFinished());
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/model.safetensors")), Files.readAllBytes(broken.resolve("final/model.safetensors")));
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/config.json")), Files.readAllBytes(broken.resolve("final/config.json")));
        assertEquals(withoutTimes(whole), withoutTimes(broken));
        assertTrue(train(recipe, broken, true, new TrainingListener() {}).alreadyFinished());
    }

    /** The toy recipe of 6 steps a stage at sequences of 48 tokens, a quarter of them lists and a quarter repeated spans. */
    private String syntheticRecipe(String name) throws IOException {
        return Files.readString(ToyRuns.recipe(root, name, 6, 3))
                .replace("\"data\": {\"prepared\": \"data\"}", "\"data\": {\"prepared\": \"data\", \"synthetic\": ["
                        + "{\"kind\": \"kv-recall\", \"share\": 0.25, \"min_pairs\": 1, \"max_pairs\": 3},"
                        + "{\"kind\": \"repeats\", \"share\": 0.25, \"min_span\": 4, \"max_span\": 12}]}")
                .replace("\"seq_len\": 24", "\"seq_len\": 48");
    }

    /**
     * Trains {@code recipe} into {@code broken}, stopped at each of the global steps {@code crashes} and resumed, and
     * checks it ends as the uninterrupted run {@code whole}: the same weights and the same metrics.
     */
    private void assertResumesAsOneRun(Path recipe, Path whole, Path broken, long... crashes) throws IOException {
        for (long crash : crashes) {
            assertThrows(Crash.class, () -> train(recipe, broken, Files.exists(broken.resolve("run.json")), crashAt(crash)));
        }
        train(recipe, broken, true, new TrainingListener() {});
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/model.safetensors")), Files.readAllBytes(broken.resolve("final/model.safetensors")));
        assertEquals(withoutTimes(whole), withoutTimes(broken));
    }

    /** A listener that keeps the run's notes. */
    private static TrainingListener noting(List<String> notes) {
        return new TrainingListener() {
            @Override
            public void note(String message) {
                notes.add(message);
            }
        };
    }

    /** Every one of {@code prefixes} begins one of the run's notes. */
    private static void assertNoted(List<String> notes, String... prefixes) {
        for (String note : prefixes) assertTrue(notes.stream().anyMatch(n -> n.startsWith(note)), note + " in " + notes);
    }

    @Test
    void aRunWithSyntheticDataResumesBitIdenticallyAndItsSequencesFollowTheMix() throws IOException {
        String text = syntheticRecipe("synthetic-base.json");
        Path recipe = root.resolve("synthetic.json");
        Files.writeString(recipe, text);
        Path whole = tmp.resolve("whole"), broken = tmp.resolve("broken");
        List<String> notes = new ArrayList<>();
        train(recipe, whole, false, noting(notes));
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("synthetic data: kv-recall 25.0%, repeats 25.0% of the training sequences (corpus 50.0%)")),
                notes.toString());
        assertResumesAsOneRun(recipe, whole, broken, 5, 13);
        JsonNode resolved = JSON.readTree(whole.resolve("run.json").toFile());
        assertEquals(2, resolved.path("recipe").path("data").path("synthetic").size(), resolved.toString());
        // The same recipe without synthetic data trains on other sequences, so its losses differ.
        Path plain = tmp.resolve("plain");
        Files.writeString(root.resolve("plain.json"), Files.readString(ToyRuns.recipe(root, "plain-base.json", 6, 3)).replace("\"seq_len\": 24", "\"seq_len\": 48"));
        train(root.resolve("plain.json"), plain, false, new TrainingListener() {});
        assertFalse(withoutTimes(plain).equals(withoutTimes(whole)));
    }

    @Test
    void stagesWithMixesOfTheirOwnTrainOnThemAndResumeBitIdentically() throws IOException {
        String text = syntheticRecipe("staged-base.json")
                .replace("\"type\": \"distill\",", "\"type\": \"distill\", \"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 1, \"min_pairs\": 1, \"max_pairs\": 3}],")
                .replace("\"type\": \"finetune\",", "\"type\": \"finetune\", \"synthetic\": [],");
        Path recipe = root.resolve("staged.json");
        Files.writeString(recipe, text);
        Path whole = tmp.resolve("staged-whole"), broken = tmp.resolve("staged-broken");
        List<String> notes = new ArrayList<>();
        train(recipe, whole, false, noting(notes));
        assertNoted(notes, "synthetic data: stage at: kv-recall 25.0%, repeats 25.0% of the training sequences (corpus 50.0%)",
                "synthetic data: stage kd: kv-recall 100.0% of the training sequences (corpus 0.0%)", "synthetic data: stage ft: the corpus alone");
        assertResumesAsOneRun(recipe, whole, broken, 8, 14);        // in the second stage's mix, and in the third's
        JsonNode stages = JSON.readTree(whole.resolve("run.json").toFile()).path("recipe").path("stages");
        assertTrue(stages.get(0).path("synthetic").isMissingNode(), "the first stage has the recipe's mix: " + stages.get(0));
        assertEquals(1.0, stages.get(1).path("synthetic").get(0).path("share").asDouble(), stages.get(1).toString());
        assertEquals(0, stages.get(2).path("synthetic").size(), stages.get(2).toString());
        // The same recipe with the recipe's mix in every stage trains on other sequences from the second stage on.
        Path same = tmp.resolve("staged-same");
        Files.writeString(root.resolve("same.json"), text.replace(" \"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 1, \"min_pairs\": 1, \"max_pairs\": 3}],", "")
                .replace(" \"synthetic\": [],", ""));
        train(root.resolve("same.json"), same, false, new TrainingListener() {});
        assertFalse(withoutTimes(same).equals(withoutTimes(whole)));
    }

    @Test
    void anAnswerWeightResumesBitIdenticallyAndTrainsOtherwiseThanWithout() throws IOException {
        String without = syntheticRecipe("answers-base.json")
                .replace("\"type\": \"distill\",", "\"type\": \"distill\", \"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 1, \"min_pairs\": 1, \"max_pairs\": 3}],");
        Path recipe = root.resolve("answers.json"), plain = root.resolve("answers-plain.json");
        Files.writeString(recipe, without.replace("\"type\": \"distill\",", "\"type\": \"distill\", \"answer_weight\": 4,"));
        Files.writeString(plain, without);
        Path whole = tmp.resolve("answers-whole"), broken = tmp.resolve("answers-broken"), unweighted = tmp.resolve("answers-unweighted");
        train(recipe, whole, false, new TrainingListener() {});
        assertResumesAsOneRun(recipe, whole, broken, 8, 10);
        assertEquals(4.0, JSON.readTree(whole.resolve("run.json").toFile()).path("recipe").path("stages").get(1).path("answer_weight").asDouble());
        train(plain, unweighted, false, new TrainingListener() {});
        assertFalse(withoutTimes(unweighted).equals(withoutTimes(whole)), "the answer weight changes what the distill stage learns");
    }

    @Test
    void eachKindsAnswerWeightWeighsItsOwnAnswers() throws IOException {
        String base = syntheticRecipe("kinds-base.json").replace("\"type\": \"distill\",", "\"type\": \"distill\", \"synthetic\": ["
                + "{\"kind\": \"kv-recall\", \"share\": 0.5, \"min_pairs\": 1, \"max_pairs\": 3}, {\"kind\": \"repeats\", \"share\": 0.5, \"min_span\": 4, \"max_span\": 12}],");
        java.util.Map<String, String> weights = new java.util.LinkedHashMap<>();
        weights.put("common", "\"answer_weight\": 4,");
        weights.put("every-kind", "\"answer_weights\": {\"kv-recall\": 4, \"repeats\": 4},");
        weights.put("repeats", "\"answer_weights\": {\"repeats\": 4},");
        weights.put("kv", "\"answer_weight\": 4, \"answer_weights\": {\"repeats\": 1},");
        java.util.Map<String, List<String>> runs = new java.util.LinkedHashMap<>();
        for (var e : weights.entrySet()) {
            Path recipe = root.resolve("kinds-" + e.getKey() + ".json"), out = tmp.resolve("kinds-" + e.getKey());
            Files.writeString(recipe, base.replace("\"type\": \"distill\",", "\"type\": \"distill\", " + e.getValue()));
            List<String> notes = new ArrayList<>();
            train(recipe, out, false, noting(notes));
            runs.put(e.getKey(), withoutTimes(out));
            String shares = notes.stream().filter(n -> n.startsWith("stage 'kd', its next ")).findFirst().orElseThrow(() -> new AssertionError(notes.toString()));
            assertTrue(shares.matches("stage 'kd', its next \\d+ sequences: targets: copies [0-9.]+%, kv-recall answers [0-9.]+%, repeats answers [0-9.]+%; "
                    + "loss weight: copies [0-9.]+%, kv-recall answers [0-9.]+%, repeats answers [0-9.]+% \\([0-9.]+ per target\\)"), shares);
        }
        assertEquals(runs.get("common"), runs.get("every-kind"), "every kind named at 4 is answer_weight 4");
        assertEquals(3, new java.util.HashSet<>(List.of(runs.get("common"), runs.get("repeats"), runs.get("kv"))).size(),
                "the repeats' answers alone, or the lists' alone, weigh otherwise than both");
    }

    @Test
    void aMixSwitchInsideAStageChangesItsSequencesFromThatStepAndResumesBitIdentically() throws IOException {
        String plainText = syntheticRecipe("switch-base.json");
        String text = plainText.replace("\"type\": \"distill\",", "\"type\": \"distill\", \"synthetic_switch\": {\"after_steps\": 3, "
                + "\"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 1, \"min_pairs\": 1, \"max_pairs\": 3}]},");
        Path recipe = root.resolve("switch.json");
        Files.writeString(recipe, text);
        Path whole = tmp.resolve("switch-whole"), broken = tmp.resolve("switch-broken");
        List<String> notes = new ArrayList<>();
        train(recipe, whole, false, noting(notes));
        assertNoted(notes, "synthetic data: stage at: kv-recall 25.0%, repeats 25.0% of the training sequences (corpus 50.0%)",
                "synthetic data: stage kd from step 4: kv-recall 100.0% of the training sequences (corpus 0.0%)",
                "synthetic data: stage ft: kv-recall 25.0%, repeats 25.0% of the training sequences (corpus 50.0%)");
        assertResumesAsOneRun(recipe, whole, broken, 8, 11, 15);    // before the switch, after it, and in the next stage
        JsonNode kd = JSON.readTree(whole.resolve("run.json").toFile()).path("recipe").path("stages").get(1);
        assertEquals(3, kd.path("synthetic_switch").path("after_steps").asLong(), kd.toString());
        assertEquals(1, kd.path("synthetic_switch").path("synthetic").size(), kd.toString());
        // Without the switch: the same steps up to the switch (the same sequences, the same optimizer), others after it.
        Path plain = tmp.resolve("switch-plain");
        Files.writeString(root.resolve("switch-plain.json"), plainText);
        train(root.resolve("switch-plain.json"), plain, false, new TrainingListener() {});
        List<JsonNode> a = steps(metrics(whole), "kd"), b = steps(metrics(plain), "kd");
        for (int i = 0; i < 6; i++) {
            ((ObjectNode) a.get(i)).remove("elapsed_s");
            ((ObjectNode) b.get(i)).remove("elapsed_s");
            if (i < 3) assertEquals(b.get(i), a.get(i), "kd step " + (i + 1) + ", before the switch");
            else assertNotEquals(b.get(i), a.get(i), "kd step " + (i + 1) + ", after the switch");
        }
    }

    @Test
    void aStageMayBringSyntheticDataToARecipeWithoutAny() throws IOException {
        Files.writeString(root.resolve("late.json"), Files.readString(ToyRuns.recipe(root, "late-base.json", 3, 100))
                .replace("\"type\": \"finetune\",", "\"type\": \"finetune\", \"synthetic\": [{\"kind\": \"repeats\", \"share\": 0.5, \"min_span\": 4, \"max_span\": 12}],")
                .replace("\"seq_len\": 24", "\"seq_len\": 48"));
        List<String> notes = new ArrayList<>();
        train(root.resolve("late.json"), tmp.resolve("late"), false, noting(notes));
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("synthetic data: stage at: the corpus alone")), notes.toString());
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("synthetic data: stage ft: repeats 50.0% of the training sequences")), notes.toString());
        assertTrue(Files.exists(tmp.resolve("late/final/model.safetensors")));
    }

    @Test
    void syntheticKindsWhoseSharesAreAllZeroTrainOnTheCorpusAlone() throws IOException {
        String plainText = Files.readString(ToyRuns.recipe(root, "plain-zero-base.json", 4, 100)).replace("\"seq_len\": 24", "\"seq_len\": 48");
        Files.writeString(root.resolve("plain-zero.json"), plainText);
        Files.writeString(root.resolve("zero.json"), plainText.replace("\"data\": {\"prepared\": \"data\"}",
                "\"data\": {\"prepared\": \"data\", \"synthetic\": [{\"kind\": \"kv-recall\", \"share\": 0}, {\"kind\": \"needles\", \"share\": 0}]}"));
        List<String> notes = new ArrayList<>();
        train(root.resolve("zero.json"), tmp.resolve("zero"), false, noting(notes));
        train(root.resolve("plain-zero.json"), tmp.resolve("plain-zero"), false, new TrainingListener() {});
        assertTrue(notes.contains("synthetic data: every share is 0; the corpus alone"), notes.toString());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("plain-zero/final/model.safetensors")),
                Files.readAllBytes(tmp.resolve("zero/final/model.safetensors")));
    }

    @Test
    void resumingBeforeTheFirstCheckpointStartsOver() throws IOException {
        Path recipe = ToyRuns.recipe(root, "early.json", 4, 100);
        Path whole = tmp.resolve("whole"), broken = tmp.resolve("broken");
        train(recipe, whole, false, new TrainingListener() {});
        assertThrows(Crash.class, () -> train(recipe, broken, false, crashAt(3)));
        assertEquals(3, metrics(broken).stream().filter(m -> m.path("type").asText().equals("step")).count());
        List<String> notes = new ArrayList<>();
        train(recipe, broken, true, noting(notes));
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("no checkpoint yet")), notes.toString());
        assertEquals(withoutTimes(whole), withoutTimes(broken));
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/model.safetensors")), Files.readAllBytes(broken.resolve("final/model.safetensors")));
    }

    @Test
    void accumulationSplitDoesNotChangeTheResultBeyondRounding() throws IOException {
        Path a = ToyRuns.recipe(root, "split-a.json", 6, 100);
        Path b = root.resolve("split-b.json");
        Files.writeString(b, Files.readString(a).replace("\"micro_batch\": 2", "\"micro_batch\": 1"));
        train(a, tmp.resolve("a"), false, new TrainingListener() {});
        train(b, tmp.resolve("b"), false, new TrainingListener() {});
        try (SafeTensors x = SafeTensors.open(tmp.resolve("a/final")); SafeTensors y = SafeTensors.open(tmp.resolve("b/final"))) {
            for (String name : x.tensors().keySet()) {
                float[] u = x.floats(name), v = y.floats(name);
                double num = 0, den = 0;
                for (int i = 0; i < u.length; i++) {
                    num += (u[i] - v[i]) * (double) (u[i] - v[i]);
                    den += (double) u[i] * u[i];
                }
                assertTrue(Math.sqrt(num / den) < 1e-4, name + ": " + Math.sqrt(num / den));
            }
        }
    }

    @Test
    void aNanStopsTheRunNamingStageAndStepAndKeepsTheLastGoodCheckpoint() throws IOException {
        Path good = ToyRuns.recipe(root, "nan-base.json", 4, 2);
        Path recipe = root.resolve("nan.json");
        // The second stage's learning rate is absurd: the weights blow up and the loss or gradient overflows.
        Files.writeString(recipe, Files.readString(good).replace("\"steps\": 4, \"lr\": 0.01, \"warmup_steps\": 2, \"trainable\": \"lora:4\"",
                "\"steps\": 4, \"lr\": 1e30, \"warmup_steps\": 0, \"trainable\": \"all\""));
        Path out = tmp.resolve("nan");
        T2rException e = assertThrows(T2rException.class, () -> train(recipe, out, false, new TrainingListener() {}));
        String msg = e.getMessage();
        assertTrue(msg.startsWith(recipe + ": stage 'kd' (2 of 3), step "), msg);
        assertTrue(msg.contains("stopped without applying this update"), msg);
        assertTrue(msg.matches(".*(the loss is (NaN|Infinity)|the gradient norm is (NaN|Infinity)).*"), msg);
        assertTrue(msg.contains("lower stages[1].lr (now 1.0E30)"), msg);
        JsonNode error = metrics(out).getLast();
        assertEquals("error", error.path("type").asText());
        long failed = error.path("global_step").asLong();
        assertTrue(failed > 4, "failed in stage 2: global step " + failed);
        long lastGood = (failed - 1) / 2 * 2;
        assertTrue(msg.contains("the last good checkpoint is " + out.toAbsolutePath().normalize().resolve("checkpoints/" + Checkpoints.name(lastGood))), msg);
        assertFalse(Files.exists(out.resolve("final")));
        // The kept checkpoint holds finite weights: only finite updates were ever applied.
        try (SafeTensors st = SafeTensors.open(out.resolve("checkpoints/" + Checkpoints.name(lastGood) + "/state.safetensors"))) {
            for (String name : st.tensors().keySet()) for (float x : st.floats(name)) assertTrue(Float.isFinite(x), name);
        }
    }

    @Test
    void runDirectoryRules() throws IOException {
        Path recipe = ToyRuns.recipe(root, "rules.json", 3, 100);
        Path stranger = Files.createDirectories(tmp.resolve("stranger"));
        Files.writeString(stranger.resolve("notes.txt"), "mine");
        assertTrue(assertThrows(T2rException.class, () -> train(recipe, stranger, false, new TrainingListener() {})).getMessage()
                .contains("is not a t2r run directory (no run.json); choose another --out"));
        assertTrue(Files.exists(stranger.resolve("notes.txt")), "never deletes what is not ours");
        assertTrue(assertThrows(T2rException.class, () -> Trainer.run(new Trainer.Options(recipe, stranger, false, true), TOY,
                new TrainingListener() {})).getMessage().contains("not a t2r run directory"));

        Path out = tmp.resolve("run");
        assertTrue(assertThrows(T2rException.class, () -> train(recipe, out, true, new TrainingListener() {})).getMessage()
                .contains("no run to resume"));
        train(recipe, out, false, new TrainingListener() {});
        assertTrue(assertThrows(T2rException.class, () -> train(recipe, out, false, new TrainingListener() {})).getMessage()
                .contains("holds an earlier run; continue it with --resume, or start over with --force"));
        Trainer.Result again = Trainer.run(new Trainer.Options(recipe, out, false, true), TOY, new TrainingListener() {});
        assertFalse(again.alreadyFinished());

        // A resume refuses a recipe whose computed state would not match, and accepts a new learning rate.
        Path changed = root.resolve("rules-seq.json");
        Files.writeString(changed, Files.readString(recipe).replace("\"seq_len\": 24", "\"seq_len\": 16"));
        String m = assertThrows(T2rException.class, () -> train(changed, out, true, new TrainingListener() {})).getMessage();
        assertTrue(m.contains("in fields a resume cannot change: seq_len: 24 -> 16"), m);
        Path lr = root.resolve("rules-lr.json");
        Files.writeString(lr, Files.readString(recipe).replace("\"lr\": 0.003", "\"lr\": 0.001"));
        List<String> notes = new ArrayList<>();
        Trainer.Result r = train(lr, out, true, noting(notes));
        assertTrue(r.alreadyFinished());
        assertTrue(notes.stream().anyMatch(n -> n.contains("stages[2].lr: 0.003 -> 0.001")), notes.toString());
    }

    @Test
    void rawDataIsTokenizedIntoTheRunAndATokenizerMismatchIsRefused() throws IOException {
        Path base = ToyRuns.recipe(root, "raw-base.json", 3, 100);
        Path raw = root.resolve("raw.json");
        Files.writeString(raw, Files.readString(base).replace("\"data\": {\"prepared\": \"data\"}",
                "\"data\": {\"train\": \"corpus/train.jsonl\", \"validation\": \"corpus/validation.jsonl\"}"));
        Path out = tmp.resolve("raw");
        List<Object> progress = new ArrayList<>();
        train(raw, out, false, new TrainingListener() {
            @Override
            public void dataProgress(gsat2r.core.data.DataPreparer.Progress p) {
                progress.add(p);
            }
        });
        assertTrue(Files.isRegularFile(out.resolve("data/dataset.json")));
        assertFalse(progress.isEmpty());
        // The run's own tokenization equals the prepared data (same files, same tokenizer).
        assertArrayEquals(Files.readAllBytes(root.resolve("data/train-00000.tokens")), Files.readAllBytes(out.resolve("data/train-00000.tokens")));

        // Data made with another tokenizer is refused before training.
        Path other = Files.createDirectories(tmp.resolve("other-teacher"));
        for (String f : List.of("config.json", "model.safetensors", "tokenizer_config.json")) Files.copy(root.resolve("teacher").resolve(f), other.resolve(f));
        Files.writeString(other.resolve("tokenizer.json"), Files.readString(root.resolve("teacher/tokenizer.json")).replace("\"Ġ", "\"Ġ "));
        Path mismatch = tmp.resolve("mismatch.json");
        Files.writeString(mismatch, Files.readString(base).replace("\"teacher\": \"teacher\"", "\"teacher\": \"" + other + "\"")
                .replace("\"prepared\": \"data\"", "\"prepared\": \"" + root.resolve("data") + "\""));
        String m = assertThrows(T2rException.class, () -> train(mismatch, tmp.resolve("mm"), false, new TrainingListener() {})).getMessage();
        assertTrue(m.contains("was tokenized with another tokenizer"), m);
        // The run it left behind says so, and how to go on.
        String again = assertThrows(T2rException.class, () -> train(mismatch, tmp.resolve("mm"), false, new TrainingListener() {})).getMessage();
        assertEquals(tmp.resolve("mm") + ": holds an earlier run that stopped before its first step; continue it with --resume, or start over "
                + "with --force", again);
    }

    @Test
    void aBuildWithoutBackendOrConverterFailsBeforeWritingAnything() throws IOException {
        Path recipe = ToyRuns.recipe(root, "nobackend.json", 3, 100);
        Path out = tmp.resolve("none");
        String m = assertThrows(T2rException.class, () -> Trainer.run(new Trainer.Options(recipe, out, false, false),
                new Plugins(List.<Device>of(), List.of(new ToyConverter())), new TrainingListener() {})).getMessage();
        assertEquals("no device 'cpu' in this build (available: none)", m);
        m = assertThrows(T2rException.class, () -> Trainer.run(new Trainer.Options(recipe, out, false, false),
                new Plugins(List.<Device>of(new ToyDevice()), List.of()), new TrainingListener() {})).getMessage();
        assertEquals(root.resolve("teacher").resolve("config.json") + ": no student converter for a teacher of model_type \"toy-lm\" in this build (available: none)", m);
        assertFalse(Files.exists(out));
    }

    @Test
    void missingFilesAreNamedBeforeAnythingRuns() throws IOException {
        Path base = ToyRuns.recipe(root, "missing-base.json", 3, 100);
        Path recipe = tmp.resolve("missing.json");
        Files.writeString(recipe, Files.readString(base).replace("\"teacher\": \"teacher\"", "\"teacher\": \"nowhere\"")
                .replace("\"prepared\": \"data\"", "\"prepared\": \"nodata\""));
        String m = assertThrows(T2rException.class, () -> train(recipe, tmp.resolve("out"), false, new TrainingListener() {})).getMessage();
        assertEquals(recipe + ": teacher: " + tmp.resolve("nowhere") + ": no such directory; data.prepared: " + tmp.resolve("nodata")
                + ": no such directory", m);
        assertFalse(Files.exists(tmp.resolve("out")));
    }

    @Test
    void outOfMemoryNamesTheNumbersAndWhatToChange() throws IOException {
        Path recipe = ToyRuns.recipe(root, "oom.json", 3, 100);
        Device failing = new Device() {
            @Override
            public String name() {
                return "cpu";
            }

            @Override
            public boolean accepts(gsat2r.core.model.ModelDirectory student) {
                return true;                              // the toy student, which is no GSA model
            }

            @Override
            public List<gsat2r.core.model.Precision> precisions() {
                return List.of(gsat2r.core.model.Precision.FP32);
            }

            @Override
            public gsat2r.core.model.LanguageModel load(gsat2r.core.model.ModelDirectory dir, gsat2r.core.model.Precision p, int index) {
                throw new UnsupportedOperationException();
            }

            @Override
            public TrainingBackend openTraining(BackendRequest r) {
                ToyBackend toy = ToyBackend.open(r.teacher().path(), r.student().path(), true);
                return new ForwardingBackend(toy) {
                    @Override
                    public LossSums forwardBackward(Objective objective, TokenBatch batch, double gradScale, boolean last) {
                        throw new BackendOutOfMemoryException("cuda:0", "attention activations", 3L << 30, 1L << 29, 80L << 30, null);
                    }
                };
            }
        };
        String m = assertThrows(T2rException.class, () -> Trainer.run(new Trainer.Options(recipe, tmp.resolve("oom"), false, false),
                new Plugins(List.of(failing), List.of(new ToyConverter())), new TrainingListener() {})).getMessage();
        assertEquals(recipe + ": stage 'at' (1 of 3), step 1 of 3 (global step 1): cuda:0: out of memory allocating 3.00 GiB for attention"
                + " activations (free 512.0 MiB of 80.00 GiB); a micro-batch is 2 x 24 tokens: lower micro_batch (raise grad_accum to keep"
                + " batch 4) or seq_len, or set \"recompute\": true to keep fewer activations", m);
    }
}
