package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.testing.Fixtures;
import gsat2r.training.Device;
import gsat2r.finetune.toy.ToyRuns;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 5's acceptance test with the real student: {@code t2r finetune} converts the tiny Mistral
 * fixture into a hybrid GSA student, tokenizes a corpus and trains it on the CPU backend (attention
 * transfer, distillation through LoRA, fine-tuning of everything); a second run is killed with
 * SIGKILL inside global step 18, after the checkpoint of step 15 (in the LoRA stage: adapters and
 * their moments are in it), and finished with {@code --resume}. Its weights must be bit-identical to
 * those of the uninterrupted run, and metrics.jsonl identical but for {@code elapsed_s}.
 *
 * <p>The three processes see different processor counts (1 for the uninterrupted run, 3 for the
 * killed one, the machine's for the resume), so this also checks that the numbers do not depend on
 * the thread count. No timing races: the killed child runs {@link HaltingCpuDevice}, which
 * blocks in optimizer step 18, and the test waits for checkpoint 15 and the metrics line of step 17.
 */
class FinetuneGsaKillTest {

    @TempDir
    Path root;

    static final JsonMapper JSON = JsonMapper.builder().build();
    static final int HALT_AT = 18;

    @Test
    void killedAndResumedRunOfTheRealStudentEqualsAnUninterruptedOne() throws Exception {
        Path recipe = recipe(root);
        Path services = halting(root.resolve("halting"));

        Path whole = root.resolve("whole");
        Process reference = start(root.resolve("whole.log"), List.of("-XX:ActiveProcessorCount=1"), null,
                "finetune", "--recipe", recipe.toString(), "--out", whole.toString());
        assertTrue(reference.waitFor(120, TimeUnit.SECONDS), "the uninterrupted run did not finish");
        assertEquals(0, reference.exitValue(), Files.readString(root.resolve("whole.log")));

        Path broken = root.resolve("broken");
        Path log1 = root.resolve("child-1.log");
        Process child = start(log1, List.of("-XX:ActiveProcessorCount=3", "-D" + HaltingCpuDevice.HALT_PROPERTY + "=" + HALT_AT),
                services, "finetune", "--recipe", recipe.toString(), "--out", broken.toString());
        try {
            FinetuneKillTest.awaitHalt(child, broken, log1);
        } finally {
            child.destroyForcibly();                    // SIGKILL on Linux: no shutdown hooks, no cleanup
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(137, child.exitValue(), "killed by SIGKILL");
        assertTrue(Files.readString(log1).contains("training on cpu (fp32, 3 threads; halting at optimizer step 18)"), Files.readString(log1));
        assertFalse(Files.exists(broken.resolve("final")));
        assertEquals(HALT_AT - 1, FinetuneKillTest.metrics(broken).stream().filter(m -> m.path("type").asText().equals("step")).count(),
                "the killed run had trained past its last checkpoint");

        Path log2 = root.resolve("child-2.log");
        Process resume = start(log2, List.of(), null, "finetune", "--recipe", recipe.toString(), "--out", broken.toString(), "--resume");
        assertTrue(resume.waitFor(120, TimeUnit.SECONDS), "the resumed run did not finish");
        String log = Files.readString(log2);
        assertEquals(0, resume.exitValue(), log);
        assertTrue(log.contains("resuming from " + broken.toAbsolutePath().resolve("checkpoints/step-00000015")), log);
        assertTrue(log.contains("opening the cpu backend"), log);

        assertArrayEquals(Files.readAllBytes(whole.resolve("final/model.safetensors")), Files.readAllBytes(broken.resolve("final/model.safetensors")),
                "final weights differ");
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/config.json")), Files.readAllBytes(broken.resolve("final/config.json")));
        List<JsonNode> metrics = FinetuneKillTest.metrics(broken);
        FinetuneKillTest.assertSameLines(FinetuneKillTest.withoutTimes(FinetuneKillTest.metrics(whole)), FinetuneKillTest.withoutTimes(metrics));
        assertEquals(24 + 6, metrics.size(), "24 step lines and 6 evaluations (every 4 steps of each stage), none twice");
        assertTrue(metrics.getFirst().has("mse.1") && !metrics.getFirst().has("mse.0"), "layer 0 is kept as attention: " + metrics.getFirst());
    }

    /** The tiny Mistral teacher, a corpus in its vocabulary, and a three-stage recipe with a checkpoint every 5 steps. */
    static Path recipe(Path root) throws IOException {
        Fixtures.copy("hf-tiny-mistral", root.resolve("teacher"));
        Path corpus = Files.createDirectories(root.resolve("corpus"));
        List<String> train = new ArrayList<>(), validation = new ArrayList<>();
        for (String t : ToyRuns.corpus(200, 1)) train.add(JSON.createObjectNode().put("text", t).toString());
        for (String t : ToyRuns.corpus(16, 2)) validation.add(JSON.createObjectNode().put("text", t).toString());
        Files.write(corpus.resolve("train.jsonl"), train);
        Files.write(corpus.resolve("validation.jsonl"), validation);
        Path recipe = root.resolve("recipe.json");
        Files.writeString(recipe, """
                {
                  "teacher": "teacher",
                  "student": {"slots": 16, "gate_init": "key-pool", "keep_attention": [0]},
                  "data": {"train": "corpus/train.jsonl", "validation": "corpus/validation.jsonl"},
                  "seq_len": 40, "batch": 4, "micro_batch": 2, "seed": 77,
                  "checkpoint_interval": 5, "keep_checkpoints": 2, "eval_tokens": 120,
                  "stages": [
                    {"name": "at", "type": "attention-transfer", "steps": 8, "lr": 1e-2, "warmup_steps": 2, "eval_interval": 4},
                    {"name": "kd", "type": "distill", "steps": 8, "lr": 1e-2, "warmup_steps": 2, "trainable": "lora:4",
                     "temperature": 2.0, "ce_weight": 0.2, "weight_decay": 0.01, "eval_interval": 4},
                    {"name": "ft", "type": "finetune", "steps": 8, "lr": 3e-3, "weight_decay": 0.1, "eval_interval": 4}
                  ]
                }
                """);
        return recipe;
    }

    /** A class-path folder whose only content is a services file naming {@link HaltingCpuDevice}. */
    static Path halting(Path dir) throws IOException {
        Path services = Files.createDirectories(dir.resolve("META-INF/services"));
        Files.writeString(services.resolve(Device.class.getName()), HaltingCpuDevice.class.getName() + "\n");
        return dir;
    }

    /** {@code java [jvm options] -cp [first:]<test class path> gsat2r.cli.T2r args...}, output to {@code log}. */
    static Process start(Path log, List<String> jvmOptions, Path firstOnClassPath, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-XX:+UseSerialGC");
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        String cp = System.getProperty("java.class.path");
        cmd.add(firstOnClassPath == null ? cp : firstOnClassPath + File.pathSeparator + cp);
        cmd.add(T2r.class.getName());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }
}
