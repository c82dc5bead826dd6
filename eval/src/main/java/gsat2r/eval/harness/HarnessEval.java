package gsat2r.eval.harness;

import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.eval.Progress;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * lm-evaluation-harness tasks on one model ({@code t2r eval --model DIR}), or on a teacher and its student
 * with a retention table. Each model's {@code results.json} (and {@code samples_<task>.jsonl}) has the
 * harness's shape; the report directory appears whole at the end.
 */
public final class HarnessEval {

    /** What to run, on which files, how. */
    public record Settings(HarnessTasks.Selection selection, TaskData data, HarnessRunner.Options options,
                           HarnessEncoder.Bos bos, int maxLength, boolean logSamples, String device, String t2rVersion) {}

    /** One model's results: the harness-shaped JSON and the runner's per-document records. */
    public record ModelResults(Map<String, Object> json, HarnessRunner.Results results) {}

    private final Settings settings;
    private final Progress progress;

    public HarnessEval(Settings settings, Progress progress) {
        this.settings = settings;
        this.progress = progress;
    }

    public ModelResults run(String label, Path modelDir, LanguageModel model, Tokenizer tokenizer) {
        long started = System.currentTimeMillis();
        HarnessEncoder encoder = new HarnessEncoder(tokenizer, settings.bos(), settings.maxLength());
        HarnessRunner.Results r = new HarnessRunner(model, encoder, settings.data(), settings.options(), progress)
                .run(settings.selection(), label);
        double seconds = (System.currentTimeMillis() - started) / 1000.0;
        HarnessReport.Run run = new HarnessReport.Run(modelDir == null ? label : modelDir.toAbsolutePath().normalize().toString(),
                settings.device(), settings.options().batchDocuments(), settings.options().limit(), settings.options().bootstrapIters(),
                settings.bos(), settings.maxLength(), settings.data().root(), settings.t2rVersion(), started / 1000.0, seconds);
        return new ModelResults(HarnessReport.results(r, run, tokenizer), r);
    }

    /** Writes one model's results into {@code dir} (an existing directory). */
    public void write(Path dir, ModelResults m) {
        HarnessReport.write(dir, m.json(), m.results(), settings.logSamples());
    }

    /** {@code t2r eval --model}: results, samples, report.md and a plot in {@code out}, atomically. */
    public void writeSingle(Path out, boolean force, ModelResults m) {
        try (AtomicDirectory dir = AtomicDirectory.create(out, force, gsat2r.eval.Evaluator.REPORT)) {
            write(dir.path(), m);
            String plotNote = HarnessPlots.write(dir.path(), m.json(), null);
            AtomicFiles.writeString(dir.path().resolve("report.md"), markdown(m.json(), null, null, plotNote));
            dir.commit();
        }
        progress.note("results written to " + out);
    }

    /**
     * Teacher and student: {@code teacher/} and {@code student/} (each model's results and samples),
     * {@code report.json} (the retention table), {@code report.md} and the plot, in {@code out}, atomically.
     */
    public void writePair(Path out, boolean force, ModelResults teacher, ModelResults student) {
        try (AtomicDirectory dir = AtomicDirectory.create(out, force, gsat2r.eval.Evaluator.REPORT)) {
            for (String role : List.of("teacher", "student")) {
                Path d = dir.path().resolve(role);
                try {
                    java.nio.file.Files.createDirectories(d);
                } catch (java.io.IOException e) {
                    throw new gsat2r.core.T2rException(d + ": cannot create (" + e.getMessage() + ")", e);
                }
                write(d, role.equals("teacher") ? teacher : student);
            }
            List<Retention.Line> lines = Retention.table(teacher.json(), student.json());
            Map<String, Object> report = new LinkedHashMap<>();
            report.put("report", "t2r eval (lm-evaluation-harness tasks)");
            report.putAll(pairJson(teacher, student));
            AtomicFiles.writeString(dir.path().resolve("report.json"), HarnessReport.json(report) + "\n");
            String plotNote = HarnessPlots.write(dir.path(), teacher.json(), student.json());
            AtomicFiles.writeString(dir.path().resolve("report.md"), markdown(teacher.json(), student.json(), lines, plotNote));
            dir.commit();
        }
        progress.note("results written to " + out);
    }

    /** The Markdown summary: each model's metrics, and with a student the retention table. */
    @SuppressWarnings("unchecked")
    public static String markdown(Map<String, Object> first, Map<String, Object> student, List<Retention.Line> retention, String plotNote) {
        StringBuilder s = new StringBuilder("# t2r eval: lm-evaluation-harness tasks\n\n");
        s.append("Scored as lm-evaluation-harness scores them (rules of commit `").append(HarnessTasks.HARNESS_COMMIT, 0, 12)
                .append("`); `results.json` has the harness's shape.\n\n");
        s.append("| task | metric | ").append(student == null ? "value | ± |" : "teacher | student | retention |").append('\n');
        s.append(student == null ? "|---|---|---:|---:|\n" : "|---|---|---:|---:|---:|\n");
        if (student == null) {
            Map<String, Object> results = (Map<String, Object>) first.get("results");
            for (Map.Entry<String, Object> e : results.entrySet()) {
                Map<String, Object> m = (Map<String, Object>) e.getValue();
                for (Map.Entry<String, Object> v : m.entrySet()) {
                    if (!v.getKey().endsWith(",none") || v.getKey().contains("_stderr")) continue;
                    String metric = v.getKey().substring(0, v.getKey().length() - 5);
                    Object err = m.get(metric + "_stderr,none");
                    s.append("| ").append(e.getKey()).append(" | ").append(metric).append(" | ").append(num(v.getValue()))
                            .append(" | ").append(err instanceof Number ? num(err) : "N/A").append(" |\n");
                }
            }
        } else {
            for (Retention.Line l : retention) {
                s.append("| ").append(l.task()).append(" | ").append(l.metric()).append(" | ").append(num(l.teacher()))
                        .append(" | ").append(num(l.student())).append(" | ")
                        .append(String.format(Locale.ROOT, "%.1f%%", 100 * l.retention())).append(" |\n");
            }
            s.append("\nRetention: student over teacher (perplexities: teacher over student, so that 100% is parity either way).\n");
        }
        if (plotNote != null) s.append('\n').append(plotNote).append('\n');
        return s.toString();
    }

    static String num(Object v) {
        return v instanceof Number n ? String.format(Locale.ROOT, "%.4f", n.doubleValue()) : String.valueOf(v);
    }

    /** The retention section of a teacher-student report.json. */
    public static Map<String, Object> pairJson(ModelResults teacher, ModelResults student) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("harness_commit", HarnessTasks.HARNESS_COMMIT);
        o.put("teacher", "teacher/results.json");
        o.put("student", "student/results.json");
        o.put("retention", Retention.json(Retention.table(teacher.json(), student.json())));
        return o;
    }
}
