package gsat2r.cputrain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.finetune.Trainer;
import gsat2r.finetune.TrainingListener;
import gsat2r.finetune.Plugins;
import gsat2r.finetune.toy.ToyRuns;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A whole recipe on the real student: the trainer finds the GSA converter and the CPU backend through
 * {@link java.util.ServiceLoader}, converts the tiny Mistral teacher into a hybrid student (layer 0
 * kept as attention), tokenizes a small corpus with the teacher's tokenizer, and trains attention
 * transfer, distillation through LoRA and fine-tuning; each stage must lower its own validation loss
 * between its first and its last evaluation (measured: mse 0.333 → 0.208, KL 0.0279 → 0.0237, CE 3.32 → 2.14).
 */
class CpuTrainingRunTest {

    @TempDir
    Path root;

    @Test
    void everyStageLowersItsValidationLoss() throws Exception {
        TinyStudents.mistralTeacher(root.resolve("teacher"));
        Path corpus = Files.createDirectories(root.resolve("corpus"));
        JsonMapper json = JsonMapper.builder().build();
        List<String> train = new ArrayList<>(), validation = new ArrayList<>();
        for (String t : ToyRuns.corpus(200, 1)) train.add(json.createObjectNode().put("text", t).toString());
        for (String t : ToyRuns.corpus(16, 2)) validation.add(json.createObjectNode().put("text", t).toString());
        Files.write(corpus.resolve("train.jsonl"), train);
        Files.write(corpus.resolve("validation.jsonl"), validation);
        Path recipe = root.resolve("recipe.json");
        Files.writeString(recipe, """
                {
                  "teacher": "teacher",
                  "student": {"slots": 16, "gate_init": "key-pool", "keep_attention": [0]},
                  "data": {"train": "corpus/train.jsonl", "validation": "corpus/validation.jsonl"},
                  "seq_len": 48, "batch": 4, "micro_batch": 2, "seed": 5,
                  "checkpoint_interval": 0, "eval_tokens": 192,
                  "stages": [
                    {"name": "at", "type": "attention-transfer", "steps": 12, "lr": 1e-2, "warmup_steps": 2, "eval_interval": 4},
                    {"name": "kd", "type": "distill", "steps": 12, "lr": 1e-2, "warmup_steps": 2, "trainable": "lora:4",
                     "temperature": 2.0, "ce_weight": 0.2, "eval_interval": 4},
                    {"name": "ft", "type": "finetune", "steps": 12, "lr": 3e-3, "warmup_steps": 2, "eval_interval": 4}
                  ]
                }
                """);
        Path out = root.resolve("run");
        Trainer.Result r = Trainer.run(new Trainer.Options(recipe, out, false, false), Plugins.discover(), new TrainingListener() {});
        assertEquals(36, r.globalSteps());

        List<JsonNode> evals = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = json.readTree(line);
            if (n.path("type").asText().equals("eval")) evals.add(n);
            if (n.path("stage").asText().equals("at") && n.path("type").asText().equals("step")) {
                assertTrue(n.has("mse.1") && !n.has("mse.0"), "only the GSA layer has a term: " + n);
            }
        }
        for (String stage : List.of("at", "kd", "ft")) {
            List<JsonNode> e = evals.stream().filter(n -> n.path("stage").asText().equals(stage)).toList();
            assertEquals(3, e.size(), stage);
            // The stage's own objective; for kd its KL term (the random teacher's CE, weighted 0.2, dominates its loss).
            String term = stage.equals("kd") ? "val_kl" : "val_loss";
            double first = e.getFirst().path(term).asDouble(), last = e.getLast().path(term).asDouble();
            assertTrue(last < 0.9 * first, stage + ": " + term + " " + first + " -> " + last);
        }
        GsaModel student = GsaModel.load(r.finalDir());
        assertFalse(student.config().isGsaLayer(0));
        assertTrue(student.config().isGsaLayer(1));
        assertTrue(Files.isRegularFile(r.finalDir().resolve("tokenizer.json")));

        // A student setting the teacher cannot take is refused, naming the recipe and its field, before anything is written.
        Path bad = root.resolve("bad.json");
        Files.writeString(bad, Files.readString(recipe).replace("\"keep_attention\": [0]", "\"keep_attention\": [0, 9]"));
        Path badOut = root.resolve("bad-run");
        T2rException e = assertThrows(T2rException.class,
                () -> Trainer.run(new Trainer.Options(bad, badOut, false, false), Plugins.discover(), new TrainingListener() {}));
        assertEquals(bad + ": --keep-attention (student.keep_attention): layer 9 does not exist (the teacher has layers 0..1)", e.getMessage());
        assertFalse(Files.exists(badOut));
    }
}
