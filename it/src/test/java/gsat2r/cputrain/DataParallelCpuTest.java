package gsat2r.cputrain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.converter.GateInit;
import gsat2r.core.data.DataPreparer;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.finetune.KilledRuns;
import gsat2r.finetune.Trainer;
import gsat2r.finetune.TrainingListener;
import gsat2r.finetune.Plugins;
import gsat2r.training.distributed.LocalGroup;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.finetune.distributed.Ranks;
import gsat2r.finetune.toy.ToyRuns;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Data-parallel training on the CPU backend, ranks as threads of a {@link LocalGroup}, through the whole
 * trainer (checkpoints, evaluation, metrics), against single-process runs of the same recipe:
 * <ul>
 * <li>N ranks with one micro-batch each per step train BIT FOR BIT as one process accumulating the
 *     same N micro-batches (with attention-transfer, LoRA distillation and attention-set finetuning:
 *     every gradient element gets one addition per micro-batch, and the ranks' gradients are added in
 *     rank order as the process adds its micro-batches). Metrics are equal too, but for the clock.</li>
 * <li>A checkpoint of N ranks equals the single process's, gathered optimizer moments included, and
 *     resumes on a different number of ranks (2 → 3, 2 → 1) with the bits of the single process resumed
 *     with the matching micro-batch.</li>
 * <li>N ranks × micro-batch b against one process with micro-batch N·b, every parameter trained: equal
 *     to rounding (the sums over the batch's rows are split differently); measured in the test.</li>
 * </ul>
 */
class DataParallelCpuTest {

    @TempDir
    static Path root;

    static final JsonMapper JSON = JsonMapper.builder().build();

    @BeforeAll
    static void fixtures() throws IOException {
        Path teacher = TinyStudents.mistralTeacher(root.resolve("teacher"));
        TinyStudents.convert(teacher, root.resolve("student"), 8, GateInit.KEY_POOL, List.of());
        Path corpus = Files.createDirectories(root.resolve("corpus"));
        List<String> train = new ArrayList<>(), validation = new ArrayList<>();
        for (String t : ToyRuns.corpus(120, 1)) train.add(JSON.createObjectNode().put("text", t).toString());
        for (String t : ToyRuns.corpus(12, 2)) validation.add(JSON.createObjectNode().put("text", t).toString());
        Files.write(corpus.resolve("train.jsonl"), train);
        Files.write(corpus.resolve("validation.jsonl"), validation);
        DataPreparer.prepare(new DataPreparer.Request(teacher, List.of(corpus.resolve("train.jsonl")), List.of(corpus.resolve("validation.jsonl")),
                "text", 0, DataPreparer.DEFAULT_SHARD_TOKENS, root.resolve("data"), false), p -> {});
    }

    /** attention transfer (attention), distillation through LoRA, finetuning (attention): 2 steps each, checkpoints every 2. */
    static Path exactRecipe(String name, int batch, int micro) throws IOException {
        return write(name, """
                {
                  "teacher": "teacher", "student": "student", "data": {"prepared": "data"},
                  "seq_len": 16, "batch": %d, "micro_batch": %d, "seed": 9,
                  "checkpoint_interval": 2, "keep_checkpoints": 10, "eval_tokens": 80,
                  "stages": [
                    {"name": "at", "type": "attention-transfer", "steps": 2, "lr": 1e-2, "trainable": "attention", "eval_interval": 2},
                    {"name": "kd", "type": "distill", "steps": 2, "lr": 1e-2, "trainable": "lora:2", "temperature": 2.0, "ce_weight": 0.2,
                     "eval_interval": 2, "weight_decay": 0.01},
                    {"name": "ft", "type": "finetune", "steps": 2, "lr": 3e-3, "trainable": "attention", "weight_decay": 0.1, "eval_interval": 2}
                  ]
                }
                """.formatted(batch, micro));
    }

    static Path write(String name, String text) throws IOException {
        Path f = root.resolve(name);
        Files.writeString(f, text);
        return f;
    }

    static Trainer.Result single(Path recipe, Path out, boolean resume) {
        return Trainer.run(new Trainer.Options(recipe, out, resume, false), Plugins.discover(), new TrainingListener() {});
    }

    static List<Trainer.Result> parallel(int world, Path recipe, Path out, boolean resume) {
        List<ProcessGroup> groups = LocalGroup.create(world);
        try {
            return Ranks.run(groups, g -> Trainer.run(new Trainer.Options(recipe, out, resume, false, g, 0), Plugins.discover(),
                    new TrainingListener() {}));
        } finally {
            Ranks.closeAll(groups);
        }
    }

    @Test
    void nRanksEqualOneProcessAccumulatingTheirMicroBatchesAndResumeOnAnotherWorldSize() throws IOException {
        // batch 6: one process with micro-batch 3 accumulates 2; two ranks with micro-batch 3 take one each.
        Path recipe3 = exactRecipe("exact-b3.json", 6, 3);
        Path one = root.resolve("one"), two = root.resolve("two");
        single(recipe3, one, false);
        List<Trainer.Result> results = parallel(2, recipe3, two, false);
        assertEquals(6, results.get(1).globalSteps());
        assertArrayEquals(bytes(one.resolve("final/model.safetensors")), bytes(two.resolve("final/model.safetensors")), "final weights");
        assertEquals(withoutClock(one), withoutClock(two), "metrics.jsonl but for elapsed_s");
        for (String step : List.of("step-00000002", "step-00000004", "step-00000006")) {
            assertArrayEquals(bytes(one.resolve("checkpoints").resolve(step).resolve("state.safetensors")),
                    bytes(two.resolve("checkpoints").resolve(step).resolve("state.safetensors")),
                    step + ": the state, the moments gathered from the two shards included");
        }
        assertEquals(3, withoutClock(two).stream().filter(l -> l.contains("\"type\":\"eval\"")).count(), "evaluations written once");

        // Resume from global step 2 (inside the LoRA stage's predecessor boundary) with micro-batch 2:
        // three ranks, one process and, from the two-rank run's checkpoint, one process again.
        Path recipe2 = exactRecipe("exact-b2.json", 6, 2);
        Path oneResumed = truncatedCopy(one, "one-resumed", 2), twoOnThree = truncatedCopy(two, "two-on-three", 2),
                twoOnOne = truncatedCopy(two, "two-on-one", 2);
        single(recipe2, oneResumed, true);
        parallel(3, recipe2, twoOnThree, true);
        single(recipe2, twoOnOne, true);
        byte[] reference = bytes(oneResumed.resolve("final/model.safetensors"));
        assertArrayEquals(reference, bytes(twoOnThree.resolve("final/model.safetensors")), "2 ranks -> 3 ranks");
        assertArrayEquals(reference, bytes(twoOnOne.resolve("final/model.safetensors")), "2 ranks -> 1 process");
        assertEquals(withoutClock(oneResumed), withoutClock(twoOnThree));
    }

    @Test
    void nRanksTimesMicroBatchBEqualOneProcessWithNbToRounding() throws IOException {
        String text = """
                {
                  "teacher": "teacher", "student": "student", "data": {"prepared": "data"},
                  "seq_len": 16, "batch": 4, "micro_batch": %d, "seed": 4, "checkpoint_interval": 0, "eval_tokens": 64,
                  "stages": [{"name": "kd", "type": "distill", "steps": 3, "lr": 3e-3, "trainable": "all", "weight_decay": 0.1,
                              "temperature": 1.5, "ce_weight": 0.3, "eval_interval": 3}]
                }
                """;
        Path big = write("all-b4.json", text.formatted(4)), small = write("all-b2.json", text.formatted(2));
        Path one = root.resolve("all-one"), two = root.resolve("all-two");
        single(big, one, false);
        parallel(2, small, two, false);
        GsaModel a = GsaModel.load(one.resolve("final")), b = GsaModel.load(two.resolve("final"));
        GsaModel start = GsaModel.load(root.resolve("student"));
        double diff = 0, moved = 0;
        float[] pa = a.parameters(), pb = b.parameters(), p0 = start.parameters();
        for (int i = 0; i < pa.length; i++) {
            diff = Math.max(diff, Math.abs(pa[i] - pb[i]));
            moved = Math.max(moved, Math.abs(pa[i] - p0[i]));
        }
        List<JsonNode> ma = steps(one), mb = steps(two);
        double lossDiff = 0;
        for (int i = 0; i < ma.size(); i++) {
            double x = ma.get(i).path("loss").asDouble(), y = mb.get(i).path("loss").asDouble();
            lossDiff = Math.max(lossDiff, Math.abs(x - y) / Math.abs(x));
        }
        System.out.printf("DP 2 x b2 vs 1 x b4, all parameters, 3 AdamW steps: max |Δw| %.3g (the largest update %.3g), max relative loss difference %.3g%n",
                diff, moved, lossDiff);
        assertTrue(moved > 1e-4, "the weights moved");
        assertTrue(diff <= 1e-5 * Math.max(1, moved) , "weights equal to rounding: " + diff);
        assertTrue(lossDiff <= 1e-6, "losses equal to rounding: " + lossDiff);
    }

    static List<JsonNode> steps(Path run) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(l);
            if (n.path("type").asText().equals("step")) out.add(n);
        }
        return out;
    }

    /** {@link KilledRuns#truncatedCopy} into this test's directory. */
    static Path truncatedCopy(Path from, String name, long step) throws IOException {
        return KilledRuns.truncatedCopy(from, root.resolve(name), step);
    }

    static byte[] bytes(Path f) throws IOException {
        return Files.readAllBytes(f);
    }

    static List<String> withoutClock(Path run) throws IOException {
        List<String> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            ObjectNode n = (ObjectNode) JSON.readTree(l);
            n.remove("elapsed_s");
            out.add(n.toString());
        }
        return out;
    }
}
