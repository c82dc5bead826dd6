package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.finetune.toy.ToyBackend;
import gsat2r.finetune.toy.ToyRuns;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The test that matters for {@code --resume}: a {@code t2r finetune} process (a child JVM) is killed
 * with SIGKILL after it has written a checkpoint and gone on training, then {@code --resume} finishes
 * the run in another process. The student's weights must be bit-identical to those of an uninterrupted
 * run, and metrics.jsonl identical line by line but for the wall-clock {@code elapsed_s}.
 *
 * <p>No timing races: the child runs the toy backend with {@code gsat2r.toy.haltAtStep=N}, so it blocks
 * inside optimizer step N and can never finish on its own; the test polls for the checkpoint and for
 * the metrics line of step N − 1, then kills it.
 */
class FinetuneKillTest {

    @TempDir
    Path root;

    static final JsonMapper JSON = JsonMapper.builder().build();
    static final int HALT_AT = 18;                 // checkpoints every 5 steps: the last one before is step 15 (in the LoRA stage)

    @Test
    void killedAndResumedRunEqualsAnUninterruptedOne() throws Exception {
        ToyRuns.create(root);
        Path recipe = ToyRuns.recipe(root, "kill.json", 10, 5);

        Path whole = root.resolve("whole");
        CliRun reference = CliRun.run(DataPrepareCommandTest.NO_MODELS, root.resolve("cache"),
                "finetune", "--recipe", recipe.toString(), "--out", whole.toString());
        assertEquals(0, reference.exit(), reference.toString());

        Path broken = root.resolve("broken");
        Process child = start(root.resolve("child-1.log"), "-D" + ToyBackend.HALT_PROPERTY + "=" + HALT_AT,
                "finetune", "--recipe", recipe.toString(), "--out", broken.toString());
        try {
            awaitHalt(child, broken, root.resolve("child-1.log"));
        } finally {
            child.destroyForcibly();                    // SIGKILL on Linux: no shutdown hooks, no cleanup
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(137, child.exitValue(), "killed by SIGKILL");
        assertFalse(Files.exists(broken.resolve("final")));
        List<JsonNode> left = metrics(broken);
        assertEquals(HALT_AT - 1, left.stream().filter(m -> m.path("type").asText().equals("step")).count(),
                "the killed run had trained past its last checkpoint");

        Process resume = start(root.resolve("child-2.log"), null, "finetune", "--recipe", recipe.toString(), "--out", broken.toString(), "--resume");
        assertTrue(resume.waitFor(120, TimeUnit.SECONDS), "the resumed run did not finish");
        String log = Files.readString(root.resolve("child-2.log"));
        assertEquals(0, resume.exitValue(), log);
        assertTrue(log.contains("resuming from " + broken.toAbsolutePath().resolve("checkpoints/step-00000015")), log);

        assertArrayEquals(Files.readAllBytes(whole.resolve("final/model.safetensors")), Files.readAllBytes(broken.resolve("final/model.safetensors")),
                "final weights differ");
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/config.json")), Files.readAllBytes(broken.resolve("final/config.json")));
        assertSameLines(withoutTimes(metrics(whole)), withoutTimes(metrics(broken)));
        assertEquals(30 + 5, metrics(broken).size(), "30 step lines and 5 evaluation lines (every 5 steps in at and kd, the end of ft), none twice");
    }

    /** SIGTERM (as Ctrl-C, through the shutdown hooks): one line says where the run can be continued from, and how. */
    @Test
    void anInterruptedRunSaysWhereToContinueFrom() throws Exception {
        ToyRuns.create(root);
        Path recipe = ToyRuns.recipe(root, "term.json", 10, 5);
        Path out = root.resolve("term");
        Path log = root.resolve("term.log");
        Process child = start(log, "-D" + ToyBackend.HALT_PROPERTY + "=" + HALT_AT, "finetune", "--recipe", recipe.toString(), "--out", out.toString());
        try {
            awaitHalt(child, out, log);
        } finally {
            child.destroy();                            // SIGTERM on Linux: the shutdown hooks run
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(143, child.exitValue(), "ended by SIGTERM");
        String last = Files.readAllLines(log).stream().filter(l -> l.startsWith("t2r: interrupted")).findFirst().orElse(Files.readString(log));
        assertEquals("t2r: interrupted at step " + (HALT_AT - 1) + " of 30 (stage 'kd', step " + (HALT_AT - 1 - 10) + " of 10); its last checkpoint is "
                + out.toAbsolutePath().resolve("checkpoints/step-00000015") + " (step 15): continue with the same command and --resume (not --force) in "
                + out, last);
    }

    /** {@code java [property] -cp <test class path> gsat2r.cli.T2r args...}, output to {@code log}. */
    static Process start(Path log, String property, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-XX:TieredStopAtLevel=1");
        if (property != null) cmd.add(property);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(T2r.class.getName());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Waits until the child has written checkpoint 15 and the metrics line of step HALT_AT − 1 (it then blocks). */
    static void awaitHalt(Process child, Path out, Path log) throws Exception {
        Path checkpoint = out.resolve("checkpoints/step-00000015/trainer.json");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            if (!child.isAlive()) fail("the child exited (" + child.exitValue() + ") before halting:\n" + Files.readString(log));
            if (Files.isRegularFile(checkpoint) && Files.isRegularFile(out.resolve("metrics.jsonl"))) {
                List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
                boolean reached = lines.stream().anyMatch(l -> l.contains("\"type\":\"step\"") && l.contains("\"global_step\":" + (HALT_AT - 1) + ","));
                if (reached) return;
            }
            if (System.nanoTime() > deadline) fail("the child did not reach step " + (HALT_AT - 1) + " in 60 s:\n" + Files.readString(log));
            Thread.sleep(20);
        }
    }

    /** Equal line by line; a failure names the first line that differs. */
    static void assertSameLines(List<String> expected, List<String> actual) {
        for (int i = 0; i < Math.min(expected.size(), actual.size()); i++) {
            assertEquals(expected.get(i), actual.get(i), "metrics.jsonl line " + (i + 1) + " differs");
        }
        assertEquals(expected.size(), actual.size(), "metrics.jsonl lines");
    }

    static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) lines.add(JSON.readTree(l));
        return lines;
    }

    static List<String> withoutTimes(List<JsonNode> metrics) {
        List<String> out = new ArrayList<>();
        for (JsonNode n : metrics) {
            ObjectNode copy = n.deepCopy();
            copy.remove("elapsed_s");
            out.add(copy.toString());
        }
        return out;
    }
}
