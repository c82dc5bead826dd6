package gsat2r.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole evaluation on the demo teacher at small sizes: the report directory and its layout, the
 * model against itself, resuming after an interruption, and fingerprints that tell which cached
 * results still hold.
 */
class EvaluatorTest {

    @TempDir
    Path tmp;

    static LlamaModel kjv;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        kjv = TestModels.kjv();
        tokenizer = Tokenizer.load(TestModels.KJV);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    /** A model that records the length of every forward and may fail after some number of calls. */
    static final class Recording implements LanguageModel {
        final LanguageModel base;
        final List<Integer> lengths = new ArrayList<>();
        int failAfter = Integer.MAX_VALUE;

        Recording(LanguageModel base) {
            this.base = base;
        }

        @Override
        public int vocabSize() {
            return base.vocabSize();
        }

        @Override
        public float[][] forward(int[] ids) {
            if (lengths.size() >= failAfter) throw new IllegalStateException("simulated crash");
            lengths.add(ids.length);
            return base.forward(ids);
        }

        @Override
        public Decoder newDecoder() {
            return base.newDecoder();
        }
    }

    private Path data() throws IOException {
        Path file = tmp.resolve("held-out.jsonl");
        List<String> lines = Files.readAllLines(Path.of("..", "data", "kjv", "validation.jsonl"));
        Files.write(file, lines.subList(0, 2));
        return file;
    }

    private Path mcFile() throws IOException {
        Path file = tmp.resolve("mini.jsonl");
        Files.writeString(file, """
                {"context": "In the beginning God created", "choices": ["the heaven and the earth.", "a wall of stone."], "label": 0}
                {"context": "And God said, Let there be", "choices": ["bread.", "light: and there was light."], "label": 1}
                """);
        return file;
    }

    private EvalSettings settings(Path data, String tasks, long seed) {
        return new EvalSettings(data, 300, 128, "cpu", TaskSpec.parse(tasks), seed, 2, 64, "test");
    }

    private static EvalModel student(LanguageModel m) {
        return new EvalModel("student", TestModels.KJV, m, null);
    }

    @Test
    void writesTheReportDirectory() throws IOException {
        Path data = data();
        LanguageModel sharper = TestModels.transformed(kjv, row -> {
            float[] out = row.clone();
            for (int i = 0; i < out.length; i++) out[i] *= 1.5f;
            return out;
        });
        Path out = tmp.resolve("report");
        StringWriter log = new StringWriter();
        EvalReport r = new Evaluator(settings(data, "lm,recall,passkey,mc:" + mcFile() + ",speed", 0),
                new EvalModel("teacher", TestModels.KJV, kjv, null), student(sharper), tokenizer,
                Progress.to(new PrintWriter(log))).run(out, false);

        assertTrue(r.lm().kl() > 0.01, "a sharper student is measurably off: " + r.lm().kl());
        assertEquals(300, r.lm().tokens());
        assertTrue(r.lm().truncated());
        assertEquals(List.of(4, 8, 16), r.recall().points().stream().map(RecallResult.Point::pairs).toList());
        assertEquals(List.of(128), r.passkey().points().stream().map(PasskeyResult.Point::length).toList());
        assertEquals(2, r.mc().getFirst().items());
        assertEquals(1, r.speed().points().size());
        assertEquals(2L * 4 * 64 * 128 * 4, r.speed().points().getFirst().teacher().stateBytes(),
                "the KV cache of 64 tokens: 2 × 4 layers × 64 × (2 heads × 64) × 4 bytes");

        JsonNode json = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        assertEquals("t2r eval", json.get("report").asText());
        assertEquals(128, json.at("/settings/context").asInt());
        assertEquals(data.toAbsolutePath().normalize().toString(), json.at("/settings/data").asText());
        assertEquals("lm", json.at("/settings/tasks/0").asText());
        assertEquals(TestModels.KJV.toAbsolutePath().normalize().toString(), json.at("/models/teacher/path").asText());
        assertEquals(4096, json.at("/models/student/vocab_size").asInt());
        assertEquals(r.lm().studentPerplexity(), json.at("/results/lm/student_perplexity").asDouble());
        assertTrue(json.at("/results/lm/by_position").isArray());
        assertTrue(json.at("/results/recall/points/0/teacher_among_values").isNumber());
        assertTrue(json.at("/results/passkey/points/0/student/accuracy_by_depth").isArray());
        PasskeyResult.Score student = r.passkey().points().getFirst().student();
        assertEquals(student.firstTokenAccuracy(), json.at("/results/passkey/points/0/student/first_token_accuracy").asDouble());
        assertEquals(student.laterTokenAccuracy(), json.at("/results/passkey/points/0/student/later_token_accuracy").asDouble());
        PasskeyResult.Answer answer = r.passkey().points().getFirst().answers().getFirst();
        assertEquals(answer.passkey(), json.at("/results/passkey/points/0/answers/0/passkey").asInt());
        assertEquals(answer.student().getFirst(), json.at("/results/passkey/points/0/answers/0/student/0").asText());
        assertTrue(json.at("/results/mc/0/teacher/acc_norm").isNumber());
        assertTrue(json.at("/results/speed/points/0/student/decode_tokens_per_s").isNumber());
        assertFalse(json.at("/cached/lm").asBoolean());
        String md = Files.readString(out.resolve("report.md"));
        for (var plot : json.get("plots").properties()) {
            assertTrue(Files.size(out.resolve(plot.getValue().asText())) > 1000, plot.getKey());
            assertTrue(md.contains("](" + plot.getValue().asText() + ")"), "report.md shows " + plot.getValue().asText());
        }
        assertEquals(7, json.get("plots").size());
        assertTrue(md.contains("| perplexity ("), md);
        assertTrue(md.contains("| first token (teacher, student) | later tokens (teacher, student) |"), "report.md scores the first token apart");
        assertTrue(md.contains("| 0.0 | " + answer.passkey() + " | " + ReportMarkdown.picks(answer.teacher()) + " | "
                + ReportMarkdown.picks(answer.student()) + " |"), "report.md shows what each model answered");
        assertFalse(Files.exists(WorkDir.beside(out).path()), "the work directory goes once the report is written");
        assertTrue(log.toString().contains("eval lm: 300/300 tokens"), log.toString());
        assertTrue(log.toString().contains("report written to"), log.toString());

        T2rException exists = assertThrows(T2rException.class, () -> new Evaluator(settings(data, "lm", 0),
                new EvalModel("teacher", TestModels.KJV, kjv, null), student(kjv), tokenizer, Progress.silent()).run(out, false));
        assertTrue(exists.getMessage().endsWith("directory exists and is not empty (use --force to replace it)"));
    }

    @Test
    void needleTasksGoIntoTheReportByName() throws IOException {
        Path out = tmp.resolve("needles");
        EvalReport r = new Evaluator(settings(data(), "niah_single", 0), new EvalModel("teacher", TestModels.KJV, kjv, null),
                student(kjv), tokenizer, Progress.silent()).run(out, false);
        assertEquals(List.of("niah_single"), List.copyOf(r.needles().keySet()));
        JsonNode json = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        assertEquals(128, json.at("/results/niah_single/points/0/length").asInt());
        assertEquals("data", json.at("/results/niah_single/haystack").asText());
        assertEquals(json.at("/results/niah_single/points/0/teacher/accuracy").asDouble(),
                json.at("/results/niah_single/points/0/student/accuracy").asDouble(), "the same model on both sides");
        assertEquals("niah-single.png", json.at("/plots/niah_single").asText());
        String md = Files.readString(out.resolve("report.md"));
        assertTrue(md.contains("## Needles and variable tracking (RULER-style)") && md.contains("| niah_single, 128 tokens |"), md);
    }

    @Test
    void aModelAgainstItselfAgreesEverywhere() throws IOException {
        EvalReport r = new Evaluator(settings(data(), "lm,recall", 0), new EvalModel("teacher", TestModels.KJV, kjv, null),
                student(TestModels.kjv()), tokenizer, Progress.silent()).evaluate(new WorkDir(tmp.resolve("work")));
        assertEquals(0.0, r.lm().kl());
        assertEquals(1.0, r.lm().top1Agreement());
        assertEquals(r.lm().teacherPerplexity(), r.lm().studentPerplexity());
        r.recall().points().forEach(p -> assertEquals(p.teacherAccuracy(), p.studentAccuracy()));
    }

    @Test
    void anInterruptedRunResumesAfterItsLastFinishedTask() throws IOException {
        Path data = data();
        Path out = tmp.resolve("resumed");
        Recording crashing = new Recording(kjv);
        crashing.failAfter = 3;                  // the 3 lm windows pass, recall's first prompt fails
        Evaluator first = new Evaluator(settings(data, "lm,recall", 0), new EvalModel("teacher", TestModels.KJV, kjv, null),
                student(crashing), tokenizer, Progress.silent());
        assertThrows(IllegalStateException.class, () -> first.run(out, false));
        assertFalse(Files.exists(out), "no half report");
        assertTrue(Files.isRegularFile(WorkDir.beside(out).path().resolve("lm.json")), "the finished task is kept");

        Recording teacher = new Recording(kjv), student = new Recording(kjv);
        StringWriter log = new StringWriter();
        EvalReport r = new Evaluator(settings(data, "lm,recall", 0), new EvalModel("teacher", TestModels.KJV, teacher, null),
                student(student), tokenizer, Progress.to(new PrintWriter(log))).run(out, false);
        assertEquals(Map.of("lm", true, "recall", false), r.cached());
        assertFalse(teacher.lengths.contains(128), "lm's windows of 128 tokens did not run again: " + teacher.lengths);
        assertTrue(log.toString().contains("lm: reusing the result in " + WorkDir.beside(out).path().resolve("lm.json")), log.toString());
        assertEquals(300, r.lm().tokens());
    }

    @Test
    void fingerprintsFollowWhatEachTaskDependsOn() throws IOException {
        Path data = data();
        Evaluator a = new Evaluator(settings(data, "lm,recall,passkey,speed", 0), new EvalModel("teacher", TestModels.KJV, kjv, null),
                student(kjv), tokenizer, Progress.silent());
        Evaluator otherSeed = new Evaluator(settings(data, "lm,recall,passkey,speed", 1), new EvalModel("teacher", TestModels.KJV, kjv, null),
                student(kjv), tokenizer, Progress.silent());
        assertEquals(a.fingerprint(TaskSpec.of(TaskSpec.Kind.LM)), otherSeed.fingerprint(TaskSpec.of(TaskSpec.Kind.LM)));
        for (TaskSpec.Kind k : List.of(TaskSpec.Kind.RECALL, TaskSpec.Kind.PASSKEY, TaskSpec.Kind.SPEED)) {
            assertNotEquals(a.fingerprint(TaskSpec.of(k)), otherSeed.fingerprint(TaskSpec.of(k)), k.toString());
        }
        JsonNode before = a.fingerprint(TaskSpec.of(TaskSpec.Kind.LM));
        Files.writeString(data, Files.readString(data) + "{\"text\": \"And one more.\"}\n");
        assertNotEquals(before, a.fingerprint(TaskSpec.of(TaskSpec.Kind.LM)), "the data changed");
    }

    /** --data compressed (a file zstd wrote) or on standard input reads the documents of the plain file. */
    @Test
    void dataMayBeCompressedOrStandardInput() throws IOException {
        Path fixtures = Path.of("..", "core", "src", "test", "resources", "fixtures", "inputs");
        List<String> plain = Documents.read(fixtures.resolve("docs.jsonl"));
        assertEquals(3, plain.size());
        assertEquals(plain, Documents.read(fixtures.resolve("docs.jsonl.zst")));
        assertEquals(plain, Documents.read(fixtures.resolve("members.jsonl.gz")));
        var stdin = System.in;
        try {
            System.setIn(Files.newInputStream(fixtures.resolve("docs.jsonl.gz")));
            assertEquals(plain, Documents.read(Path.of("-")));
        } finally {
            System.setIn(stdin);
        }
    }

    @Test
    void badInputIsAClearErrorBeforeAnyWork() throws IOException {
        Path data = data();
        T2rException e = assertThrows(T2rException.class, () -> new Evaluator(settings(null, "lm", 0),
                new EvalModel("teacher", TestModels.KJV, kjv, null), student(kjv), tokenizer, Progress.silent()).run(tmp.resolve("o"), false));
        assertTrue(e.getMessage().startsWith("--data is needed for the lm task"), e.getMessage());
        Path missing = tmp.resolve("missing.jsonl");
        e = assertThrows(T2rException.class, () -> new Evaluator(settings(data, "mc:" + missing, 0),
                new EvalModel("teacher", TestModels.KJV, kjv, null), student(kjv), tokenizer, Progress.silent()).run(tmp.resolve("o"), false));
        assertTrue(e.getMessage().startsWith(missing + ": no such file"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("o")));
        e = assertThrows(T2rException.class, () -> new Evaluator(settings(data, "lm", 0), new EvalModel("teacher", TestModels.KJV, kjv, null),
                student(new TestModels.Induction(100, 1)), tokenizer, Progress.silent()));
        assertEquals("the teacher's vocabulary has 4096 tokens, the student's 100: they cannot be compared token by token", e.getMessage());
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"fine\"}\n{\"txt\": \"oops\"}\n");
        e = assertThrows(T2rException.class, () -> Documents.read(bad));
        assertEquals(bad + ":2: no field \"text\"", e.getMessage());
    }
}
