package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.api.Session;
import gsat2r.api.T2rModel;
import gsat2r.core.generate.Sampler;
import gsat2r.core.testing.Fixtures;
import gsat2r.core.testing.Students;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code generate --save-state / --load-state} and {@code inspect FILE}: a state saved after a prompt of
 * several GSA chunks (and past the attention window of a hybrid student) is continued by a NEW JVM with
 * exactly the tokens one uninterrupted run produces, greedy and seeded.
 */
class StateCommandsTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path tmp;

    private CliRun t2r(String... args) {
        return CliRun.run(ModelLoader::load, tmp.resolve("cache"), args);
    }

    /** t2r in a child JVM with this test's class path: a fresh process, fresh model, nothing shared. */
    private CliRun child(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), T2r.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectError(tmp.resolve("child.err").toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        return new CliRun(p.exitValue(), out, Files.readString(tmp.resolve("child.err")));
    }

    private static String ids(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
    }

    @Test
    void aNewProcessContinuesASavedPromptExactly() throws Exception {
        Path student = Students.write(Students.hybridConfig(24), 21, tmp.resolve("student"));
        int[] prompt = IntStream.concat(IntStream.of(1), Arrays.stream(Students.ids(199, 22))).toArray();   // BOS + 199
        Path state = tmp.resolve("prompt.state");
        String m = student.toString();

        CliRun save = t2r("generate", "--model", m, "--ids", ids(prompt), "--max-new-tokens", "0", "--save-state",
                state.toString(), "--format", "json");
        assertEquals(0, save.exit(), save.toString());
        assertArrayEquals(prompt, JSON.convertValue(JSON.readTree(save.out()).get("ids"), int[].class));

        // Greedy: one process over the prompt, against a child JVM that only loads the state.
        CliRun one = t2r("generate", "--model", m, "--ids", ids(prompt), "--max-new-tokens", "24", "--greedy", "--format", "json");
        CliRun resumed = child("generate", "--model", m, "--load-state", state.toString(), "--max-new-tokens", "24",
                "--greedy", "--format", "json");
        assertEquals(0, resumed.exit(), resumed.toString());
        assertEquals(one.out(), resumed.out());
        assertEquals(prompt.length + 24, JSON.readTree(one.out()).get("ids").size());

        // Seeded sampling, with a prompt appended after the saved one: the child against the same session
        // operations in this process (the prompt, then the appended ids, then 24 draws with seed 5).
        int[] more = Students.ids(30, 23);
        CliRun appended = child("generate", "--model", m, "--load-state", state.toString(), "--ids", ids(more),
                "--max-new-tokens", "24", "--seed", "5", "--temperature", "1.0", "--format", "json");
        assertEquals(0, appended.exit(), appended.toString());
        try (T2rModel model = T2rModel.load(student)) {
            Session s = model.newSession();
            s.append(prompt);
            s.append(more);
            int[] expected = s.generate(24, Sampler.sampling(1.0, GenerateCommand.DEFAULT_TOP_P, 5), x -> { }).allIds();
            assertArrayEquals(expected, JSON.convertValue(JSON.readTree(appended.out()).get("ids"), int[].class));
        }

        CliRun inspect = t2r("inspect", state.toString());
        assertEquals(0, inspect.exit(), inspect.toString());
        for (String line : List.of("position         200 tokens consumed", "tokens           1, ",
                "layers           3, ", "layer 0: GSA, Hk [2, 16, 16] + Hv [2, 16, 16] fp32",
                "layer 1: attention, keys and values of the last 24 positions, rows of 32 fp32", "CRC32C ok",
                "model            gsa (as hashed: config sha256 ")) {
            assertTrue(inspect.out().contains(line), "missing '" + line + "' in\n" + inspect.out());
        }
        JsonNode json = JSON.readTree(t2r("inspect", state.toString(), "--format", "json").out());
        assertEquals(200, json.get("position").asInt());
    }

    @Test
    void mismatchedModelAndDamagedFilesAreOneErrorLine() throws IOException {
        Path a = Students.write(Students.gsaConfig(), 31, tmp.resolve("a"));
        Path b = Students.write(Students.gsaConfig(), 32, tmp.resolve("b"));
        Path state = tmp.resolve("a.state");
        assertEquals(0, t2r("generate", "--model", a.toString(), "--prompt", "In the beginning", "--max-new-tokens", "0",
                "--save-state", state.toString()).exit());

        CliRun other = t2r("generate", "--model", b.toString(), "--load-state", state.toString(), "--greedy");
        assertEquals(1, other.exit(), other.toString());
        assertEquals(1, other.errLines().size(), other.toString());
        assertTrue(other.err().startsWith("error: " + state + ": saved by a model with other weights"), other.err());

        byte[] bytes = Files.readAllBytes(state);
        bytes[bytes.length - 9] ^= 1;
        Files.write(state, bytes);
        CliRun corrupt = t2r("generate", "--model", a.toString(), "--load-state", state.toString(), "--greedy");
        assertEquals(1, corrupt.exit());
        assertTrue(corrupt.err().startsWith("error: " + state + ": corrupt (CRC32C "), corrupt.err());
        assertTrue(t2r("inspect", state.toString()).err().startsWith("error: " + state + ": corrupt"));

        CliRun nothing = t2r("generate", "--model", a.toString(), "--greedy");
        assertEquals(2, nothing.exit(), nothing.toString());
        assertTrue(nothing.err().contains("give --prompt or --ids, or --load-state FILE"), nothing.err());
    }

    @Test
    void teacherStatesToo() throws IOException {
        Path teacher = Fixtures.copy("hf-tiny-mistral", tmp.resolve("teacher"));       // sliding window 16
        Path state = tmp.resolve("t.state");
        String prompt = "In the beginning God created the heaven and the earth. And the earth was without form";
        assertEquals(0, t2r("generate", "--model", teacher.toString(), "--prompt", prompt, "--max-new-tokens", "0",
                "--save-state", state.toString()).exit());
        CliRun one = t2r("generate", "--model", teacher.toString(), "--prompt", prompt, "--max-new-tokens", "10",
                "--greedy", "--format", "json");
        CliRun two = t2r("generate", "--model", teacher.toString(), "--load-state", state.toString(), "--max-new-tokens",
                "10", "--greedy", "--format", "json");
        assertEquals(0, two.exit(), two.toString());
        assertEquals(one.out(), two.out());
        assertTrue(t2r("inspect", state.toString()).out().contains("model            llama"));
    }
}
