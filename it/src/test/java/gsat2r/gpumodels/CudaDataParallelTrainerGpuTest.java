package gsat2r.gpumodels;

import gsat2r.finetune.Plugins;
import gsat2r.core.model.Precision;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.converter.GateInit;
import gsat2r.core.data.DataPreparer;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.finetune.KilledRuns;
import gsat2r.finetune.Trainer;
import gsat2r.finetune.TrainingListener;
import gsat2r.training.distributed.LocalGroup;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.finetune.distributed.Ranks;
import gsat2r.finetune.toy.ToyRuns;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA backend as a data-parallel rank through the whole trainer (checkpoints, evaluation, metrics, the
 * stage switches), 2 ranks as threads sharing GPU 0 (host transport), fp32, against one process accumulating
 * the same 2 micro-batches: attention transfer (buckets at the end of the backward), distillation through LoRA
 * (adapters as the trainable tensors) and finetuning of the attention tensors (buckets during the backward);
 * the checkpoints (moments gathered from the shards) equal the single process's, and the 2-rank run's
 * checkpoint resumes in one process to the single process's final weights. Equal to 1e-6 relative (the
 * stages where every gradient element gets one addition per micro-batch, as DataParallelCpuTest's exact
 * recipe: the same test on the CPU backend gives identical bits; training every parameter, embeddings
 * included, is equal only to rounding there, 3.6e-5 relative in the moments, and is covered by
 * CudaDataParallelGpuTest's weights, norms and losses instead).
 */
@Tag("gpu")
class CudaDataParallelTrainerGpuTest {

    @TempDir
    static Path root;
    static final JsonMapper JSON = JsonMapper.builder().build();

    @BeforeAll
    static void fixtures() throws IOException {
        Path teacher = TestModels.kjvTeacher();
        TestModels.student(teacher, root.resolve("student"), 32, GateInit.RANDOM, List.of());
        Path corpus = Files.createDirectories(root.resolve("corpus"));
        List<String> train = new ArrayList<>(), validation = new ArrayList<>();
        for (String t : ToyRuns.corpus(120, 1)) train.add(JSON.createObjectNode().put("text", t).toString());
        for (String t : ToyRuns.corpus(12, 2)) validation.add(JSON.createObjectNode().put("text", t).toString());
        Files.write(corpus.resolve("train.jsonl"), train);
        Files.write(corpus.resolve("validation.jsonl"), validation);
        DataPreparer.prepare(new DataPreparer.Request(teacher, List.of(corpus.resolve("train.jsonl")), List.of(corpus.resolve("validation.jsonl")),
                "text", 0, DataPreparer.DEFAULT_SHARD_TOKENS, root.resolve("data"), false), p -> {});
        Files.writeString(root.resolve("recipe.json"), """
                {
                  "teacher": "%s", "student": "student", "data": {"prepared": "data"}, "device": "cuda", "precision": "fp32",
                  "seq_len": 64, "batch": 2, "micro_batch": 1, "seed": 9,
                  "checkpoint_interval": 2, "keep_checkpoints": 10, "eval_tokens": 256,
                  "stages": [
                    {"name": "at", "type": "attention-transfer", "steps": 2, "lr": 1e-2, "trainable": "attention", "eval_interval": 2},
                    {"name": "kd", "type": "distill", "steps": 2, "lr": 1e-2, "trainable": "lora:2", "temperature": 2.0, "ce_weight": 0.2,
                     "eval_interval": 2, "weight_decay": 0.01},
                    {"name": "ft", "type": "finetune", "steps": 2, "lr": 3e-3, "trainable": "attention", "weight_decay": 0.1, "eval_interval": 2}
                  ]
                }
                """.formatted(teacher.toString().replace("\\", "\\\\")));
    }


    static Trainer.Result single(Path out, boolean resume) {
        return Trainer.run(new Trainer.Options(root.resolve("recipe.json"), out, resume, false), Plugins.discover(), new TrainingListener() {});
    }

    static List<Trainer.Result> parallel(int world, Path out) {
        List<ProcessGroup> groups = LocalGroup.create(world);
        try {
            return Ranks.run(groups, g -> Trainer.run(new Trainer.Options(root.resolve("recipe.json"), out, false, false, g, 0), Plugins.discover(),
                    new TrainingListener() {}));
        } finally {
            Ranks.closeAll(groups);
        }
    }

    @Test
    void twoRanksOnOneGpuTrainAsOneProcessAndTheirCheckpointResumesInOne() throws IOException {
        Path one = root.resolve("one"), two = root.resolve("two");
        single(one, false);
        assertEquals(6, parallel(2, two).getFirst().globalSteps());
        compareTensors("trainer_final", one.resolve("final/model.safetensors"), two.resolve("final/model.safetensors"), 1e-6);
        for (String step : List.of("step-00000002", "step-00000004", "step-00000006")) {
            compareTensors("trainer_state_" + step, one.resolve("checkpoints").resolve(step).resolve("state.safetensors"),
                    two.resolve("checkpoints").resolve(step).resolve("state.safetensors"), 1e-6);
        }
        List<JsonNode> a = lines(one), b = lines(two);
        assertEquals(a.size(), b.size(), "metrics.jsonl lines");
        double worst = 0;
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).path("type").asText(), b.get(i).path("type").asText());
            for (String key : List.of("loss", "val_loss")) {
                if (!a.get(i).has(key)) continue;
                double x = a.get(i).path(key).asDouble(), y = b.get(i).path(key).asDouble();
                worst = Math.max(worst, Math.abs(x - y) / Math.max(Math.abs(x), 1e-30));
            }
        }
        CudaVsCpuGpuTest.metric("dp_trainer_2ranks_vs_1x2_losses", worst, 1e-6);
        assertTrue(worst <= 1e-6, "losses differ by " + worst);

        Path resumed = truncatedCopy(two, "two-on-one", 4);     // killed after global step 4 (inside the LoRA stage's end)
        single(resumed, true);
        compareTensors("trainer_resume_2ranks_to_1", one.resolve("final/model.safetensors"), resumed.resolve("final/model.safetensors"), 1e-6);
    }

    /** Every tensor of two safetensors files: the same names, relative L2 within {@code tol}. */
    static void compareTensors(String what, Path want, Path got, double tol) {
        try (SafeTensors a = SafeTensors.open(want); SafeTensors b = SafeTensors.open(got)) {
            assertEquals(a.tensors().keySet(), b.tensors().keySet(), what + ": tensor names");
            double worst = 0;
            int identical = 0;
            for (String name : a.tensors().keySet()) {
                float[] x = a.floats(name), y = b.floats(name);
                double num = 0, den = 0;
                for (int i = 0; i < x.length; i++) {
                    num += (double) (x[i] - y[i]) * (x[i] - y[i]);
                    den += (double) x[i] * x[i];
                }
                if (num == 0) identical++;
                worst = Math.max(worst, den == 0 ? Math.sqrt(num) : Math.sqrt(num / den));
            }
            CudaVsCpuGpuTest.metric("dp_" + what + "_rel_l2", worst, tol);
            System.out.println("GPU-INFO " + what + ": " + identical + " of " + a.tensors().size() + " tensors bit-identical");
            assertTrue(worst <= tol, what + ": tensors differ by " + worst + " (relative L2)");
        }
    }

    static List<JsonNode> lines(Path run) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) out.add(JSON.readTree(l));
        return out;
    }

    /** {@link KilledRuns#truncatedCopy} into this test's directory. */
    static Path truncatedCopy(Path from, String name, long step) throws IOException {
        return KilledRuns.truncatedCopy(from, root.resolve(name), step);
    }
}
