package gsat2r.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.data.TextInputs;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.OutputKind;
import gsat2r.core.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * Runs the tasks of {@link EvalSettings} on a teacher and a student and writes the report:
 * <pre>{@code
 * EvalReport r = new Evaluator(settings, teacher, student, tokenizer, Progress.to(err)).run(outDir, force);
 * }</pre>
 * Both models score the same tokens, made by one tokenizer (the teacher's; the caller checks that the
 * student's agrees). Each task's result is kept in a {@link WorkDir} as soon as it is done, so a run
 * that stops (Ctrl-C, an error, a crash) and is started again with the same command resumes after the
 * last finished task. The output directory appears whole, at the end ({@link AtomicDirectory}).
 */
public final class Evaluator {

    /** What {@code t2r eval --force} may replace: a directory holding a report. */
    public static final OutputKind REPORT = OutputKind.holding("t2r eval report", "report.md");

    /** Bumped when a task's method changes, so that older cached results are not reused. */
    static final int METHOD_VERSION = 3;

    private final EvalSettings settings;
    private final EvalModel teacher, student;
    private final Tokenizer tokenizer;
    private final Progress progress;

    public Evaluator(EvalSettings settings, EvalModel teacher, EvalModel student, Tokenizer tokenizer, Progress progress) {
        if (teacher.model().vocabSize() != student.model().vocabSize()) {
            throw new T2rException("the teacher's vocabulary has " + teacher.model().vocabSize() + " tokens, the student's "
                    + student.model().vocabSize() + ": they cannot be compared token by token");
        }
        this.settings = settings;
        this.teacher = teacher;
        this.student = student;
        this.tokenizer = tokenizer;
        this.progress = progress;
    }

    /**
     * Evaluates and writes {@code report.json}, {@code report.md} and the plots into {@code out}, which
     * must not exist or be empty unless {@code force}. The work directory beside it is deleted at the end.
     */
    public EvalReport run(Path out, boolean force) {
        checkInputs();
        try (AtomicDirectory dir = AtomicDirectory.create(out, force, REPORT)) {
            WorkDir work = WorkDir.beside(out);
            EvalReport report = evaluate(work);
            ReportWriter.write(dir.path(), report);
            dir.commit();
            work.delete();
            progress.note("report written to " + dir.target());
            return report;
        }
    }

    /** Runs every task (or takes its result from {@code work}). */
    public EvalReport evaluate(WorkDir work) {
        checkInputs();
        Instant started = Instant.now();
        LmResult lm = null;
        RecallResult recall = null;
        PasskeyResult passkey = null;
        SpeedResult speed = null;
        List<McResult> mc = new ArrayList<>();
        Map<String, NeedleResult> needles = new LinkedHashMap<>();
        Map<String, Boolean> cached = new LinkedHashMap<>();
        WordPool[] pool = new WordPool[1];
        for (TaskSpec task : settings.tasks()) {
            switch (task.kind()) {
                case LM -> lm = cachedOr(work, task, LmResult.class, cached,
                        () -> LanguageModelingTask.run(teacher.model(), student.model(), tokenizeData(),
                                settings.context(), settings.maxTokens(), progress));
                case RECALL -> recall = cachedOr(work, task, RecallResult.class, cached, () -> {
                    if (pool[0] == null) pool[0] = WordPool.of(tokenizer, settings.data() == null ? null : texts());
                    return RecallTask.run(teacher.model(), student.model(), pool[0], Prompts.startTokens(tokenizer),
                            settings.context(), settings.samples(), settings.seed(), progress);
                });
                case PASSKEY -> passkey = cachedOr(work, task, PasskeyResult.class, cached,
                        () -> PasskeyTask.run(teacher.model(), student.model(), tokenizer, settings.context(),
                                settings.samples(), settings.seed(), progress));
                case MC -> mc.add(cachedOr(work, task, McResult.class, cached,
                        () -> MultipleChoiceTask.run(teacher.model(), student.model(), tokenizer, task.file(),
                                settings.context(), progress)));
                case SPEED -> speed = cachedOr(work, task, SpeedResult.class, cached,
                        () -> SpeedTask.run(teacher.model(), student.model(), settings.speedMaxContext(), settings.seed(), progress));
                case NIAH_SINGLE, NIAH_MULTIKEY, NIAH_MULTIVALUE, VT -> needles.put(task.key(), cachedOr(work, task, NeedleResult.class, cached,
                        () -> {
                            if (pool[0] == null) pool[0] = WordPool.of(tokenizer, settings.data() == null ? null : texts());
                            return NeedleTask.run(task.key(), teacher.model(), student.model(), tokenizer, pool[0],
                                    settings.data() == null ? null : texts(), settings.context(), settings.samples(), settings.seed(), progress);
                        }));
            }
        }
        return new EvalReport(settings, describe(teacher), describe(student), started.truncatedTo(ChronoUnit.SECONDS).toString(),
                cached, lm, recall, passkey, mc, speed, needles);
    }

    private <T> T cachedOr(WorkDir work, TaskSpec task, Class<T> type, Map<String, Boolean> cached, Supplier<T> compute) {
        JsonNode fingerprint = fingerprint(task);
        T result = work.load(task.key(), fingerprint, type);
        if (result != null) {
            progress.note(task + ": reusing the result in " + work.path().resolve(task.key() + ".json"));
            cached.put(task.key(), true);
            return result;
        }
        result = compute.get();
        work.save(task.key(), fingerprint, result);
        cached.put(task.key(), false);
        return result;
    }

    /** What a task's result depends on. */
    JsonNode fingerprint(TaskSpec task) {
        ObjectNode f = Json.MAPPER.createObjectNode();
        f.put("method_version", METHOD_VERSION);
        f.put("task", task.toString());
        f.set("teacher", identity(teacher.dir()));
        f.set("student", identity(student.dir()));
        switch (task.kind()) {
            case LM -> {
                f.put("context", settings.context());
                f.put("max_tokens", settings.maxTokens());
                f.set("data", dataIdentity());
            }
            case RECALL, PASSKEY, NIAH_SINGLE, NIAH_MULTIKEY, NIAH_MULTIVALUE, VT -> {
                f.put("context", settings.context());
                f.put("seed", settings.seed());
                f.put("samples", settings.samples());
                if (task.kind() != TaskSpec.Kind.PASSKEY) f.set("data", dataIdentity());  // picks the words, the haystack
            }
            case MC -> {
                f.put("context", settings.context());
                f.set("file", identity(task.file()));
            }
            case SPEED -> {
                f.put("max_context", settings.speedMaxContext());
                f.put("seed", settings.seed());
                f.put("device", settings.device());
            }
        }
        return f;
    }

    /** A file, or a directory's files, by absolute path, size and modification time. */
    static JsonNode identity(Path path) {
        if (path == null) return NullNode.getInstance();
        Path abs = path.toAbsolutePath().normalize();
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("path", abs.toString());
        try {
            if (Files.isDirectory(abs)) {
                ArrayNode files = o.putArray("files");
                try (Stream<Path> list = Files.list(abs)) {
                    for (Path p : list.filter(Files::isRegularFile).sorted().toList()) {
                        files.addObject().put("name", p.getFileName().toString()).put("bytes", Files.size(p))
                                .put("modified", Files.getLastModifiedTime(p).toMillis());
                    }
                }
            } else if (Files.isRegularFile(abs)) {
                o.put("bytes", Files.size(abs)).put("modified", Files.getLastModifiedTime(abs).toMillis());
            }
        } catch (IOException e) {
            o.put("unreadable", e.toString());
        }
        return o;
    }

    /** {@link #identity} of --data; standard input, which has no size or date, by a hash of its documents. */
    private JsonNode dataIdentity() {
        if (settings.data() == null || !TextInputs.isStdin(settings.data())) return identity(settings.data());
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("path", "-");
        try {
            var sha = java.security.MessageDigest.getInstance("SHA-256");
            for (String t : texts()) sha.update((t + "\u0000").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            o.put("documents_sha256", java.util.HexFormat.of().formatHex(sha.digest()));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        return o;
    }

    private void checkInputs() {
        if (settings.has(TaskSpec.Kind.LM)) {
            if (settings.data() == null) throw new T2rException("--data is needed for the lm task (held-out text, JSONL with \"text\")");
            if (!TextInputs.isStdin(settings.data()) && !Files.isRegularFile(settings.data())) {
                throw new T2rException(settings.data() + ": no such file");
            }
        }
        for (TaskSpec t : settings.tasks()) {
            if (t.kind() == TaskSpec.Kind.MC && !Files.isRegularFile(t.file())) {
                throw new T2rException(t.file() + ": no such file (a multiple-choice task file: JSONL with context, choices, label)");
            }
        }
    }

    /**
     * The data's documents as tokens (BOS first), as many as {@code --max-tokens} needs, and whether
     * documents with text were left out.
     */
    private LanguageModelingTask.Data tokenizeData() {
        List<String> texts = texts();
        List<int[]> docs = new ArrayList<>();
        long predicted = 0;
        boolean leftOut = false;
        for (String text : texts) {
            if (predicted >= settings.maxTokens()) {
                leftOut |= !text.isEmpty();
                continue;
            }
            int[] ids = tokenizer.encode(text);
            docs.add(ids);
            predicted += Math.max(0, ids.length - 1);
        }
        return new LanguageModelingTask.Data(docs, leftOut);
    }

    private List<String> texts;

    private List<String> texts() {
        if (texts == null) texts = Documents.read(settings.data());
        return texts;
    }

    private static EvalReport.Model describe(EvalModel m) {
        return new EvalReport.Model(m.role(), m.dir() == null ? null : m.dir().toAbsolutePath().normalize().toString(),
                m.model().vocabSize(), m.summary());
    }
}
