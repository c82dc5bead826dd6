package gsat2r.cli;

import gsat2r.finetune.toy.ToyRuns;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code t2r finetune} in-process on the toy model (the toy backend is found through ServiceLoader on the test class path). */
class FinetuneCommandTest {

    @TempDir
    static Path root;
    @TempDir
    Path tmp;

    @BeforeAll
    static void files() {
        ToyRuns.create(root);
    }

    CliRun t2r(String... args) {
        return CliRun.run(DataPrepareCommandTest.NO_MODELS, tmp.resolve("cache"), args);
    }

    @Test
    void runsARecipeWithProgressAndPrintsTheStudentDirectory() throws IOException {
        Path recipe = ToyRuns.recipe(root, "cli.json", 5, 5);
        Path out = tmp.resolve("run");
        CliRun r = t2r("finetune", "--recipe", recipe.toString(), "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals(out.toAbsolutePath().resolve("final") + "\n", r.out());
        String err = r.err();
        assertTrue(err.contains("t2r: converting "), err);
        assertTrue(err.contains("t2r: stage 1/3 'at' (attention-transfer): 5 steps, trainable attention"), err);
        assertTrue(err.matches("(?s).*t2r: at \\[1/3] step 1/5  loss [0-9.]+  lr 5\\.00e-03  gnorm [0-9.e+-]+  [0-9.k]+ tok/s  ETA .*"), err);
        assertTrue(err.matches("(?s).*t2r: kd \\[2/3] step 5/5  loss [0-9.]+  kl [0-9.]+  ce [0-9.]+ .*"), err);
        assertTrue(err.contains("t2r: kd step 5: validation  loss "), err);
        assertTrue(err.contains("  top1 "), err);
        assertTrue(err.contains("t2r: checkpoint " + out.toAbsolutePath().resolve("checkpoints/step-00000005")), err);
        assertTrue(Files.isRegularFile(out.resolve("final/model.safetensors")));

        CliRun again = t2r("finetune", "--recipe", recipe.toString(), "--out", out.toString(), "--resume");
        assertEquals(0, again.exit(), again.toString());
        assertTrue(again.err().contains("t2r: the run is already finished"), again.toString());
    }

    @Test
    void aRunInterruptedBeforeItsFirstStepSaysNothingWasTrained() {
        var listener = new FinetuneCommand.Listener(new ProgressLine(new java.io.PrintWriter(java.io.Writer.nullWriter()), false, () -> 0, 30));
        assertEquals("t2r: interrupted before the first step; nothing was trained (if o holds this run now, --resume continues its setup)",
                listener.interruptedNote(Path.of("o")));
    }

    /** A resumed run interrupted before its next checkpoint points at the checkpoint it resumed from, not at step 0. */
    @Test
    void aResumedRunInterruptedBeforeItsNextCheckpointNamesTheOneOnDisk() throws IOException {
        var listener = new FinetuneCommand.Listener(new ProgressLine(new java.io.PrintWriter(java.io.Writer.nullWriter()), false, () -> 0, 30));
        listener.step(new gsat2r.finetune.TrainingListener.StepReport("kd", 1, 2, 4, 10, 24, 30, 0.5, new java.util.LinkedHashMap<>(), 1e-3, 1.0,
                1000, 100.0, 5.0));
        Path out = tmp.resolve("resumed");
        assertTrue(listener.interruptedNote(out).contains("no checkpoint yet, so a resume starts from step 0"));
        Path step20 = Files.createDirectories(out.resolve("checkpoints/step-00000020"));
        Files.writeString(step20.resolve("trainer.json"), "{}");
        assertTrue(listener.interruptedNote(out).contains("its last checkpoint is " + step20 + " (step 20)"), listener.interruptedNote(out));
    }

    @Test
    void recipeErrorsAreOneLineAndOptionsAreChecked() throws IOException {
        Path recipe = tmp.resolve("recipe.json");
        Files.writeString(recipe, Files.readString(ToyRuns.recipe(root, "cli-bad.json", 5, 5)).replace("\"lr\": 0.003", "\"lr\": 0"));
        CliRun r = t2r("finetune", "--recipe", recipe.toString(), "--out", tmp.resolve("out").toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals("error: " + recipe + ": stages[2].lr: must be > 0 (got 0)", r.err().strip());
        assertFalse(Files.exists(tmp.resolve("out")), "nothing is written for an invalid recipe");

        CliRun both = t2r("finetune", "--recipe", recipe.toString(), "--out", "x", "--resume", "--force");
        assertEquals(2, both.exit(), both.toString());
        assertTrue(both.err().startsWith("--resume, --force are mutually exclusive"), both.toString());
        CliRun missing = t2r("finetune", "--recipe", tmp.resolve("nope.json").toString(), "--out", "x");
        assertEquals("error: " + tmp.resolve("nope.json") + ": no such file", missing.err().strip());
        CliRun directory = t2r("finetune", "--recipe", tmp.toString(), "--out", "x");
        assertEquals("error: " + tmp + ": is a directory, expected a recipe (a JSON or YAML file)", directory.err().strip());
    }

    /** --set changes the recipe as if the file said it: validated, stored in run.json, compared on --resume. */
    @Test
    void setOverridesAndYamlRecipes() throws IOException {
        Path json = ToyRuns.recipe(root, "cli-set.json", 5, 5);
        Path yaml = root.resolve("cli-set.yaml");
        Files.writeString(yaml, Files.readString(json));          // JSON is YAML's flow style: the same recipe
        Path out = tmp.resolve("run");
        CliRun bad = t2r("finetune", "--recipe", yaml.toString(), "--out", out.toString(), "--set", "stages.2.lr=0");
        assertEquals(2, bad.exit(), "a bad --set value is a usage error");
        assertEquals(List.of("--set: " + yaml + ": stages[2].lr: must be > 0 (got 0)", "Try 't2r finetune --help' for more information."),
                bad.errLines());
        Path nowhere = tmp.resolve("no-teacher");
        CliRun missing = t2r("finetune", "--recipe", yaml.toString(), "--out", out.toString(), "--set", "teacher=" + nowhere);
        assertEquals(2, missing.exit(), "a missing path given by --set is a usage error too");
        assertEquals("--set: " + yaml + ": teacher: " + nowhere + ": no such directory", missing.errLines().getFirst());
        assertFalse(Files.exists(out), "nothing written");
        CliRun r = t2r("finetune", "--recipe", yaml.toString(), "--out", out.toString(), "--set", "stages.2.lr=0.001", "--set", "seed=3");
        assertEquals(0, r.exit(), r.toString());
        String runJson = Files.readString(out.resolve("run.json"));
        assertTrue(runJson.contains("\"lr\" : 0.001") && runJson.contains("\"seed\" : 3"), runJson);
        CliRun same = t2r("finetune", "--recipe", yaml.toString(), "--out", out.toString(), "--resume", "--set", "stages.2.lr=0.001",
                "--set", "seed=3");
        assertEquals(0, same.exit(), same.toString());
        assertTrue(same.err().contains("the run is already finished"), same.toString());
        CliRun other = t2r("finetune", "--recipe", yaml.toString(), "--out", out.toString(), "--resume", "--set", "stages.2.lr=0.001");
        assertEquals(1, other.exit(), other.toString());
        assertTrue(other.err().startsWith("error: ") && other.err().contains("seed"), other.toString());
    }
}
