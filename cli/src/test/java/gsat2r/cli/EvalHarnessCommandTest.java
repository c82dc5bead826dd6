package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code t2r eval} with lm-evaluation-harness tasks on the shipped task files: one model, a pair with its retention
 * table, bad input in one line, and the whole command in a JVM that finds no fonts.
 */
class EvalHarnessCommandTest {

    static final String KJV = Path.of("..", "models", "kjv-llama").toString();
    static final String TASK_DATA = Path.of("..", "docs", "examples", "task-data").toString();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private CliRun t2r(String... args) {
        return CliRun.run(ModelLoader::load, tmp.resolve("cache"), args);
    }

    @Test
    void oneModelWritesResultsInTheHarnessShape() throws IOException {
        Path out = tmp.resolve("one");
        CliRun r = t2r("eval", "--model", KJV, "--tasks", "arc_easy,piqa,lambada_openai,mmlu", "--task-data", TASK_DATA,
                "--partial-groups", "--log-samples", "--bootstrap-iters", "1000", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        JsonNode res = JSON.readTree(out.resolve("results.json").toFile());
        for (String key : List.of("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config")) {
            assertTrue(res.has(key), key);
        }
        assertEquals(8, res.at("/results/arc_easy/sample_len").asInt());
        assertTrue(res.at("/results/arc_easy").has("acc_norm_stderr,none"));
        assertTrue(res.at("/results/lambada_openai").has("perplexity_stderr,none"));
        assertEquals(12, res.at("/groups/mmlu/sample_len").asInt(), "three subjects of 4, 3 and 5 questions");
        assertEquals("world_religions", res.at("/results/mmlu_world_religions/alias").asText());
        assertEquals("None", res.at("/t2r/add_bos_token").asText());
        assertTrue(res.at("/config/model_args").asText().contains("add_bos_token=None"));
        List<String> samples = Files.readAllLines(out.resolve("samples_piqa.jsonl"));
        assertEquals(8, samples.size());
        JsonNode s = JSON.readTree(samples.getFirst());
        assertEquals("Question: To keep a lamp burning through the night,\nAnswer:", s.at("/arguments/0/0").asText());
        assertEquals(" fill it with oil before the evening.", s.at("/arguments/0/1").asText());
        assertTrue(Files.readString(out.resolve("report.md")).contains("![accuracy by task](harness-accuracy.png)"));
        assertTrue(Files.size(out.resolve("harness-accuracy.png")) > 1000);
    }

    @Test
    void aPairGetsARetentionTable() throws IOException {
        Path out = tmp.resolve("pair");
        CliRun r = t2r("eval", "--teacher", KJV, "--student", KJV, "--tasks", "arc_easy,winogrande", "--task-data", TASK_DATA,
                "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        JsonNode report = JSON.readTree(out.resolve("report.json").toFile());
        assertEquals(1.0, report.at("/retention/arc_easy/retention").asDouble(), "the teacher against itself");
        assertEquals(1.0, report.at("/retention/average (zero-shot, no MMLU)/retention").asDouble());
        assertTrue(Files.isRegularFile(out.resolve("teacher/results.json")) && Files.isRegularFile(out.resolve("student/results.json")));
    }

    @Test
    void badInputIsOneLine() {
        String out = tmp.resolve("o").toString();
        assertEquals(List.of("--task-data DIR is needed for arc_easy (the datasets' files; see docs/eval.md)", "Try 't2r eval --help' for more information."),
                t2r("eval", "--model", KJV, "--tasks", "arc_easy", "--out", out).errLines());
        assertEquals(List.of("--tasks lm compares two models: give --teacher and --student (--model takes "
                        + "lm-evaluation-harness tasks: hellaswag, arc_easy, arc_challenge, piqa, winogrande, lambada_openai, wikitext, "
                        + "mmlu, mmlu_stem, mmlu_other, mmlu_social_sciences, mmlu_humanities, mmlu_<subject>)", "Try 't2r eval --help' for more information."),
                t2r("eval", "--model", KJV, "--tasks", "lm", "--out", out).errLines());
        Path empty = tmp.resolve("empty");
        assertEquals(List.of("error: " + empty.resolve("allenai/ai2_arc") + ": no such directory (put the files of the dataset allenai/ai2_arc there)"),
                t2r("eval", "--model", KJV, "--tasks", "arc_easy", "--task-data", mkdir(empty), "--out", out).errLines());
        assertEquals(List.of("--num-fewshot 5: wikitext: a rolling log-likelihood scores each page alone, zero-shot",
                        "Try 't2r eval --help' for more information."),
                t2r("eval", "--model", KJV, "--tasks", "wikitext", "--task-data", TASK_DATA, "--num-fewshot", "5", "--out", out).errLines());
        assertEquals(List.of("error: piqa: --num-fewshot 10 needs 11 documents in the train split, which has 10"),
                t2r("eval", "--model", KJV, "--tasks", "piqa", "--task-data", TASK_DATA, "--num-fewshot", "10", "--out", out).errLines());
        assertEquals(2, t2r("eval", "--model", KJV, "--teacher", KJV, "--tasks", "piqa", "--out", out).exit());
        assertFalse(Files.exists(Path.of(out)));
    }

    private static String mkdir(Path p) {
        try {
            return Files.createDirectories(p).toString();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The whole command, plots included, in a child JVM whose fontconfig names no font directory and whose home holds
     * no cached font list (java.awt text fails there: see the eval module's NoFontsTest).
     */
    @Test
    void theWholeReportIsWrittenWithoutFonts() throws Exception {
        Path one = tmp.resolve("nofonts-one"), pair = tmp.resolve("nofonts-pair");
        Path data = tmp.resolve("data.jsonl");
        Files.writeString(data, "{\"text\": \"In the beginning God created the heaven and the earth. And the earth was without form.\"}\n");
        assertEquals(0, child("eval", "--model", KJV, "--tasks", "arc_easy,piqa", "--task-data", TASK_DATA, "--out", one.toString()));
        assertTrue(Files.size(one.resolve("harness-accuracy.png")) > 1000);
        assertEquals(0, child("eval", "--teacher", KJV, "--student", KJV, "--tasks", "lm,piqa", "--data", data.toString(),
                "--context", "16", "--task-data", TASK_DATA, "--out", pair.toString()));
        JsonNode report = JSON.readTree(pair.resolve("report.json").toFile());
        assertFalse(report.has("plot_errors"), report.toString());
        assertTrue(Files.size(pair.resolve("lm-kl-by-position.png")) > 1000);
        assertTrue(Files.size(pair.resolve("harness/harness-accuracy.png")) > 1000);
    }

    private int child(String... args) throws IOException, InterruptedException {
        Path conf = Files.writeString(tmp.resolve("fonts.conf"), "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n"
                + "<fontconfig><cachedir>" + tmp.resolve("fc-cache") + "</cachedir></fontconfig>\n");
        Files.createDirectories(tmp.resolve("home"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Duser.home=" + tmp.resolve("home"), "-cp", System.getProperty("java.class.path"),
                T2r.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("FONTCONFIG_FILE", conf.toString());
        pb.environment().remove("FONTCONFIG_PATH");
        pb.environment().put("XDG_CACHE_HOME", tmp.resolve("home").toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int exit = p.waitFor();
        if (exit != 0) System.out.println(out);
        return exit;
    }
}
