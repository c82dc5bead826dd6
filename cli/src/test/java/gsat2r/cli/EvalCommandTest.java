package gsat2r.cli;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.model.LanguageModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code t2r eval} end to end on the demo teacher: its perplexity is exp of the mean NLL computed from
 * what {@code t2r logits --all-positions} prints for the same text; the teacher against itself has KL 0
 * and agreement 1; an interrupted run resumes; bad input gives one line.
 */
class EvalCommandTest {

    /** Floats as the text says (Float.toString's shortest form reads back exactly through BigDecimal). */
    private static final JsonMapper JSON = JsonMapper.builder().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS).build();
    static final String KJV = Path.of("..", "models", "kjv-llama").toString();

    @TempDir
    Path tmp;

    private Path data(int documents, int chars) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("..", "data", "kjv", "validation.jsonl"));
        StringBuilder out = new StringBuilder();
        for (int d = 0; d < documents; d++) {
            String text = JSON.readTree(lines.get(d)).get("text").asText();
            out.append(JSON.createObjectNode().put("text", text.substring(0, Math.min(chars, text.length())))).append('\n');
        }
        Path file = tmp.resolve("data.jsonl");
        Files.writeString(file, out);
        return file;
    }

    private CliRun t2r(Function<Path, LanguageModel> loader, String... args) {
        return CliRun.run(loader, tmp.resolve("cache"), args);
    }

    @Test
    void teacherPerplexityIsExpOfTheMeanNllOfTheLogitsCommand() throws IOException {
        Path data = data(3, 400);
        double nll = 0;
        long tokens = 0;
        for (String line : Files.readAllLines(data)) {
            String text = JSON.readTree(line).get("text").asText();
            CliRun logits = t2r(ModelLoader::load, "logits", "--model", KJV, "--text", text, "--all-positions");
            assertEquals(0, logits.exit(), logits.toString());
            JsonNode o = JSON.readTree(logits.out());
            JsonNode ids = o.get("ids"), rows = o.get("logits");
            for (int t = 0; t + 1 < ids.size(); t++) {
                JsonNode row = rows.get(t);
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                float[] z = new float[row.size()];
                for (int v = 0; v < z.length; v++) max = Math.max(max, z[v] = row.get(v).decimalValue().floatValue());
                for (float v : z) sum += Math.exp(v - max);
                nll += max + Math.log(sum) - z[ids.get(t + 1).asInt()];
                tokens++;
            }
        }
        double expected = Math.exp(nll / tokens);

        Path out = tmp.resolve("report");
        CliRun eval = t2r(ModelLoader::load, "eval", "--teacher", KJV, "--student", KJV, "--data", data.toString(),
                "--tasks", "lm", "--context", "512", "--out", out.toString());
        assertEquals(0, eval.exit(), eval.toString());
        JsonNode lm = JSON.readTree(out.resolve("report.json").toFile()).at("/results/lm");
        double perplexity = lm.get("teacher_perplexity").asDouble();
        System.out.printf("perplexity %.9f, from t2r logits %.9f (%d tokens), rel err %.1e%n", perplexity, expected, tokens,
                Math.abs(perplexity / expected - 1));
        assertEquals(tokens, lm.get("tokens").asLong());
        assertEquals(expected, perplexity, 1e-9 * expected);
        assertEquals(0.0, lm.get("kl").asDouble(), "the teacher against itself");
        assertEquals(1.0, lm.get("top1_agreement").asDouble());
        assertEquals(perplexity, lm.get("student_perplexity").asDouble());
        assertTrue(eval.err().contains("eval lm: " + tokens + "/" + tokens + " tokens"), eval.err());
        assertTrue(Files.readString(out.resolve("report.md")).contains("![KL by position](lm-kl-by-position.png)"));
    }

    @Test
    void anInterruptedEvalResumesWithTheSameCommand() throws IOException {
        Path data = data(2, 300);
        String out = tmp.resolve("r").toString();
        String[] args = {"eval", "--teacher", KJV, "--student", KJV, "--data", data.toString(), "--tasks", "lm,recall",
                "--context", "64", "--samples", "1", "--out", out};
        int[] calls = {0};
        // The student crashes on its first recall prompt; lm's windows (64 tokens, and the documents' ends) pass.
        Function<Path, LanguageModel> crashing = dir -> {
            LanguageModel m = ModelLoader.load(dir);
            if (calls[0]++ == 0) return m;                                   // the teacher
            return new LanguageModel() {
                @Override
                public int vocabSize() {
                    return m.vocabSize();
                }

                @Override
                public float[][] forward(int[] ids) {
                    // A recall prompt: BOS, then key value "," three tokens at a time.
                    boolean recall = ids.length >= 10 && ids[3] == ids[6] && ids[6] == ids[9];
                    if (recall) throw new IllegalStateException("simulated failure");
                    return m.forward(ids);
                }

                @Override
                public Decoder newDecoder() {
                    return m.newDecoder();
                }
            };
        };
        CliRun first = t2r(crashing, args);
        assertEquals(1, first.exit(), first.toString());
        assertEquals("error: internal error: IllegalStateException: simulated failure", first.errLines().getLast());
        assertFalse(Files.exists(Path.of(out)));
        CliRun second = t2r(ModelLoader::load, args);
        assertEquals(0, second.exit(), second.toString());
        assertTrue(second.err().contains("eval: lm: reusing the result in "), second.err());
        assertFalse(second.err().contains("eval lm:"), "lm did not run again");
        JsonNode report = JSON.readTree(Path.of(out, "report.json").toFile());
        assertTrue(report.at("/cached/lm").asBoolean());
        assertEquals(gsat2r.core.BuildInfo.current().commit(), report.at("/tool/commit").asText(), "the commit t2r was built from");
        assertFalse(report.at("/cached/recall").asBoolean());
    }

    @Test
    void badInputIsOneLine() throws IOException {
        Path data = data(1, 100);
        String out = tmp.resolve("o").toString();
        record Case(int exit, List<String> expected, String... args) {}
        String hint = "Try 't2r eval --help' for more information.";
        List<Case> cases = List.of(
                new Case(2, List.of("--tasks: unknown task 'ppl' (known: lm, recall, passkey, mc:FILE, speed, niah_single, niah_multikey, "
                        + "niah_multivalue, vt; lm-evaluation-harness's: " + gsat2r.eval.harness.HarnessTasks.KNOWN + ")", hint),
                        "--data", data.toString(), "--tasks", "ppl"),
                new Case(2, List.of("--data FILE is needed for the lm task (or leave lm out of --tasks)", hint)),
                new Case(2, List.of("--context must be at least 16 tokens, not 0", hint), "--data", data.toString(), "--context", "0"),
                new Case(1, List.of("error: " + tmp.resolve("none.jsonl") + ": no such file"), "--data", tmp.resolve("none.jsonl").toString()),
                new Case(1, List.of("error: " + tmp + ": is a directory, expected a text file (JSONL, .txt, Parquet)"), "--data", tmp.toString()));
        for (Case c : cases) {
            String[] base = {"eval", "--teacher", KJV, "--student", KJV, "--out", out};
            String[] args = java.util.Arrays.copyOf(base, base.length + c.args().length);
            System.arraycopy(c.args(), 0, args, base.length, c.args().length);
            CliRun r = t2r(ModelLoader::load, args);
            assertEquals(c.exit(), r.exit(), r.toString());
            assertEquals(c.expected(), r.errLines(), r.toString());
        }
        assertFalse(Files.exists(Path.of(out)));
        Path taken = Files.writeString(Files.createDirectories(tmp.resolve("taken")).resolve("notes.txt"), "mine").getParent();
        java.util.function.Function<Path, gsat2r.core.model.LanguageModel> noLoading = dir -> {
            throw new AssertionError("a model was loaded before the output directory was checked");
        };
        CliRun exists = t2r(noLoading, "eval", "--teacher", KJV, "--student", KJV, "--out", taken.toString(), "--data", data.toString());
        assertEquals(1, exists.exit(), exists.toString());
        assertEquals(List.of("error: " + taken + ": directory exists and is not empty and is not a t2r eval report (no report.md);"
                + " give a new or empty directory"), exists.errLines(), "one line, before any model loads");
        CliRun onTheWay = t2r(noLoading, "eval", "--model", KJV, "--tasks", "arc_easy", "--task-data", tmp.toString(),
                "--out", data.resolve("report").toString());
        assertEquals(List.of("error: " + data + ": is a file, not a directory (on the way to " + data.resolve("report") + ")"),
                onTheWay.errLines(), onTheWay.toString());
        CliRun usage = t2r(ModelLoader::load, "eval", "--teacher", KJV);
        assertEquals(2, usage.exit(), usage.toString());
    }

    @Test
    void aStudentWithAnotherTokenizerIsRefused() throws IOException {
        Path student = tmp.resolve("student");
        Files.createDirectories(student);
        for (String f : List.of("config.json", "model.safetensors")) Files.copy(Path.of(KJV, f), student.resolve(f));
        Path mistral = Path.of("..", "core", "src", "test", "resources", "fixtures", "hf-tiny-mistral", "tokenizer.json");
        Files.copy(mistral, student.resolve("tokenizer.json"));
        CliRun r = t2r(ModelLoader::load, "eval", "--teacher", KJV, "--student", student.toString(), "--tasks", "recall",
                "--out", tmp.resolve("o").toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals(List.of("error: " + student.resolve("tokenizer.json")
                + ": the student's tokenizer differs from the teacher's; eval compares both models on the same tokens"), r.errLines());
    }
}
