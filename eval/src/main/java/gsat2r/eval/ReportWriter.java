package gsat2r.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.BuildInfo;
import gsat2r.core.data.TextInputs;
import gsat2r.core.cpu.Parallel;
import gsat2r.core.io.AtomicFiles;
import gsat2r.eval.plot.LinePlot;

import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Writes a report directory: {@code report.json} (the machine-readable truth: settings, versions,
 * models, every number), the plots as PNG, and {@code report.md}, a readable summary with the plots.
 * <pre>
 * report.json = {
 *   "report": "t2r eval", "format_version": 1,
 *   "tool": {"t2r", "java", "os", "cpu_threads"}, "started", "written",
 *   "settings": {"data", "max_tokens", "context", "device", "tasks", "seed", "samples", "speed_max_context", ...},
 *   "models": {"teacher": {"role", "path", "vocab_size", "summary"}, "student": {...}},
 *   "results": {"lm": LmResult, "recall": RecallResult, "passkey": PasskeyResult, "mc": [McResult], "speed": SpeedResult,
 *               "niah_single", "niah_multikey", "niah_multivalue", "vt": NeedleResult (only the tasks that ran)},
 *   "cached": {task: whether its result came from an earlier, interrupted run},
 *   "plots": {name: file}, "plot_errors": {name: why it could not be drawn}   (absent when none)
 * }
 * </pre>
 * Keys are snake_case; a task that did not run is null. A plot that cannot be drawn (a JVM without
 * fonts, say) is named under {@code plot_errors}; the numbers are written regardless.
 */
final class ReportWriter {
    private ReportWriter() {}

    static final int FORMAT_VERSION = 1;

    static void write(Path dir, EvalReport r) {
        Map<String, String> plots = new LinkedHashMap<>(), errors = new LinkedHashMap<>();
        for (Map.Entry<String, LinePlot> e : plots(r).entrySet()) {
            String file = e.getKey().replace('_', '-') + ".png";
            try {
                e.getValue().writePng(dir.resolve(file));
                plots.put(e.getKey(), file);
            } catch (RuntimeException | LinkageError | java.awt.AWTError failure) {
                errors.put(e.getKey(), failure.toString());
            }
        }
        AtomicFiles.writeString(dir.resolve("report.json"), json(r, plots, errors) + "\n");
        AtomicFiles.writeString(dir.resolve("report.md"), ReportMarkdown.of(r, plots, errors));
    }

    static String json(EvalReport r, Map<String, String> plots, Map<String, String> errors) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("report", "t2r eval");
        o.put("format_version", FORMAT_VERSION);
        ObjectNode tool = o.putObject("tool");
        tool.put("t2r", r.settings().toolVersion());
        tool.put("commit", BuildInfo.current().commit());
        tool.put("modified", BuildInfo.current().modified());
        tool.put("java", Runtime.version().toString());
        tool.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        tool.put("cpu_threads", Parallel.threads());
        o.put("started", r.started());
        o.put("written", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        ObjectNode settings = (ObjectNode) Json.MAPPER.valueToTree(r.settings());
        settings.remove("tool_version");
        settings.set("tasks", Json.MAPPER.valueToTree(r.settings().tasks().stream().map(TaskSpec::toString).toList()));
        if (r.settings().data() != null) {
            Path data = r.settings().data();
            settings.put("data", TextInputs.isStdin(data) ? "-" : data.toAbsolutePath().normalize().toString());
        }
        o.set("settings", settings);
        ObjectNode models = o.putObject("models");
        models.set("teacher", Json.MAPPER.valueToTree(r.teacher()));
        models.set("student", Json.MAPPER.valueToTree(r.student()));
        ObjectNode results = o.putObject("results");
        results.set("lm", Json.MAPPER.valueToTree(r.lm()));
        results.set("recall", Json.MAPPER.valueToTree(r.recall()));
        results.set("passkey", Json.MAPPER.valueToTree(r.passkey()));
        results.set("mc", Json.MAPPER.valueToTree(r.mc()));
        results.set("speed", Json.MAPPER.valueToTree(r.speed()));
        r.needles().forEach((task, result) -> results.set(task, Json.MAPPER.valueToTree(result)));
        o.set("cached", Json.MAPPER.valueToTree(r.cached()));
        o.set("plots", Json.MAPPER.valueToTree(plots));
        if (!errors.isEmpty()) o.set("plot_errors", Json.MAPPER.valueToTree(errors));
        try {
            return Json.MAPPER.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The report's plots by name (the file is the name with dashes, .png). */
    static Map<String, LinePlot> plots(EvalReport r) {
        Map<String, LinePlot> out = new LinkedHashMap<>();
        String teacher = "teacher", student = "student";
        if (r.lm() != null && !r.lm().byPosition().isEmpty()) {
            List<LmResult.PositionBucket> b = r.lm().byPosition();
            double[] x = xs(b, LmResult.PositionBucket::meanContext);
            out.put("lm_kl_by_position", new LinePlot("KL(teacher ‖ student) by position in the window",
                    "tokens of context read (log scale)", "mean KL (nats / token)")
                    .xScale(LinePlot.Scale.LOG2).yRange(0.0, null)
                    .add("student vs teacher", x, xs(b, LmResult.PositionBucket::kl))
                    .note(String.format(Locale.ROOT, "%,d tokens, windows of %,d tokens; points at the mean position of buckets [2^k, 2^(k+1))",
                            r.lm().tokens(), r.lm().context())));
            out.put("lm_nll_by_position", new LinePlot("Next-token loss by position in the window",
                    "tokens of context read (log scale)", "mean NLL (nats / token)")
                    .xScale(LinePlot.Scale.LOG2)
                    .add(teacher, x, xs(b, LmResult.PositionBucket::teacherNll))
                    .add(student, x, xs(b, LmResult.PositionBucket::studentNll))
                    .note(String.format(Locale.ROOT, "perplexity: teacher %.2f, student %.2f",
                            r.lm().teacherPerplexity(), r.lm().studentPerplexity())));
        }
        if (r.recall() != null) {
            List<RecallResult.Point> p = r.recall().points();
            double[] x = xs(p, q -> q.pairs());
            out.put("recall", new LinePlot("Multi-query associative recall", "key-value pairs in the prompt (log scale)",
                    "accuracy (share of queries)")
                    .xScale(LinePlot.Scale.LOG2).yRange(0.0, 1.0).yTicks(ReportWriter::percent)
                    .add(teacher, x, xs(p, RecallResult.Point::teacherAccuracy))
                    .add(student, x, xs(p, RecallResult.Point::studentAccuracy))
                    .note(String.format(Locale.ROOT, "%d prompts per point, each querying every pair; prompt = 6 tokens per pair",
                            r.recall().samples())));
            out.put("recall_among_values", new LinePlot("Associative recall: the value outranks the other values",
                    "key-value pairs in the prompt (log scale)", "share of queries")
                    .xScale(LinePlot.Scale.LOG2).yRange(0.0, 1.0).yTicks(ReportWriter::percent)
                    .add(teacher, x, xs(p, RecallResult.Point::teacherAmongValues))
                    .add(student, x, xs(p, RecallResult.Point::studentAmongValues))
                    .reference("chance (1 / pairs)", x, xs(p, q -> 1.0 / q.pairs()))
                    .note("the value's logit against those of the prompt's other values, at the query"));
        }
        if (r.passkey() != null) {
            List<PasskeyResult.Point> p = r.passkey().points();
            double[] x = xs(p, q -> q.length());
            out.put("passkey", new LinePlot("Passkey retrieval", "prompt length (tokens, log scale)", "accuracy (greedy)")
                    .xScale(LinePlot.Scale.LOG2).yRange(0.0, 1.0).yTicks(ReportWriter::percent)
                    .add(teacher, x, xs(p, q -> q.teacher().accuracy()))
                    .add(student, x, xs(p, q -> q.student().accuracy()))
                    .note(String.format(Locale.ROOT, "%d prompts per length at depths 0, 0.25, 0.5, 0.75, 1", r.passkey().samples())));
        }
        for (NeedleResult n : r.needles().values()) {
            List<NeedleResult.Point> p = n.points();
            double[] x = xs(p, q -> q.length());
            out.put(n.task(), new LinePlot(n.task() + ": " + NeedleTask.describe(n.task()), "prompt length (tokens, log scale)",
                    "accuracy (greedy, every value)")
                    .xScale(LinePlot.Scale.LOG2).yRange(0.0, 1.0).yTicks(ReportWriter::percent)
                    .add(teacher, x, xs(p, q -> q.teacher().accuracy()))
                    .add(student, x, xs(p, q -> q.student().accuracy()))
                    .note(String.format(Locale.ROOT, "%d prompts per length; haystack: %s", n.samples(), n.haystack())));
        }
        if (r.speed() != null) {
            List<SpeedResult.Point> p = r.speed().points();
            double[] x = xs(p, q -> q.context());
            String where = String.format(Locale.ROOT, "device %s, %d CPU threads; decode rate = 1 / median step of %d",
                    r.settings().device(), Parallel.threads(), r.speed().decodeTokens());
            out.put("speed_decode", new LinePlot("Decoding speed as the context grows", "context (tokens, log scale)",
                    "decode tokens / s")
                    .xScale(LinePlot.Scale.LOG2).yRange(0.0, null)
                    .add(teacher, x, xs(p, q -> q.teacher() == null ? Double.NaN : q.teacher().decodeTokensPerS()))
                    .add(student, x, xs(p, q -> q.student() == null ? Double.NaN : q.student().decodeTokensPerS()))
                    .note(where));
            double[] tb = xs(p, q -> q.teacher() == null || q.teacher().stateBytes() == null ? Double.NaN : q.teacher().stateBytes());
            double[] sb = xs(p, q -> q.student() == null || q.student().stateBytes() == null ? Double.NaN : q.student().stateBytes());
            out.put("speed_memory", new LinePlot("Decoding state as the context grows", "context (tokens, log scale)",
                    "bytes held by the decoder (log scale)")
                    .xScale(LinePlot.Scale.LOG2).yScale(LinePlot.Scale.LOG2).yTicks(LinePlot::bytes)
                    .add(teacher, x, tb)
                    .add(student, x, sb)
                    .note("after prefilling the context; a KV cache is allocated in doublings"));
        }
        return out;
    }

    private static <T> double[] xs(List<T> items, ToDoubleFunction<T> f) {
        return items.stream().mapToDouble(f).toArray();
    }

    static String percent(double v) {
        return String.format(Locale.ROOT, "%.0f%%", 100 * v);
    }

    /** A summary field of a model, or null. */
    static JsonNode field(EvalReport.Model m, String name) {
        JsonNode v = m.summary().get(name);
        return v == null || v.isNull() ? null : v;
    }
}
