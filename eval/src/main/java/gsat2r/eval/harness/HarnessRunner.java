package gsat2r.eval.harness;

import gsat2r.core.T2rException;
import gsat2r.core.model.Continuations;
import gsat2r.core.model.LanguageModel;
import gsat2r.datasets.Row;
import gsat2r.eval.Progress;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs lm-evaluation-harness tasks on one model: builds each document's requests (few-shot prefix, context,
 * continuations), tokenizes them ({@link HarnessEncoder}), scores them in batches of documents through
 * {@link LanguageModel#scoreContinuations} (a multiple-choice item's context once, its choices after it) and
 * aggregates the metrics as the harness does.
 */
public final class HarnessRunner {

    /**
     * @param numFewshot     examples before each document (every task but wikitext), or 0
     * @param batchDocuments documents whose requests go to the model together
     * @param bootstrapIters resamples for the standard error of a perplexity (the harness's 100000)
     * @param limit          at most this many documents per task (null: all)
     * @param partialGroups  a group aggregates the subtasks whose files exist instead of failing on a missing one
     */
    public record Options(int numFewshot, int batchDocuments, int bootstrapIters, Integer limit, boolean partialGroups) {
        public Options {
            if (numFewshot < 0) throw new T2rException("--num-fewshot must not be negative, not " + numFewshot);
            if (batchDocuments < 1) throw new T2rException("--batch-size must be at least 1, not " + batchDocuments);
            if (limit != null && limit < 1) throw new T2rException("--limit must be at least 1, not " + limit);
        }
    }

    private final LanguageModel model;
    private final HarnessEncoder encoder;
    private final TaskData data;
    private final Options options;
    private final Progress progress;

    public HarnessRunner(LanguageModel model, HarnessEncoder encoder, TaskData data, Options options, Progress progress) {
        this.model = model;
        this.encoder = encoder;
        this.data = data;
        this.options = options;
        this.progress = progress;
    }

    /** What one document asked and what the model answered. */
    record Scored(int docId, Doc doc, List<String[]> arguments, List<Continuations.Score> scores, Map<String, Object> metrics) {}

    /**
     * One task's results: per-document metric values and the log of every document.
     *
     * @param originalDocs documents in the split (before {@code --limit})
     */
    public record TaskResult(HarnessTask task, int numFewshot, int originalDocs, List<Scored> docs, Map<String, Object> aggregated) {
        public int sampleLen() {
            return docs.size();
        }
    }

    public record Results(List<TaskResult> tasks, Map<String, Map<String, Object>> groups, List<String> missingTasks) {}

    public Results run(HarnessTasks.Selection selection, String label) {
        for (HarnessTask t : selection.tasks()) checkShots(t);              // every task's settings before any task's hours
        List<TaskResult> results = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (HarnessTask t : selection.tasks()) {
            List<Row> rows;
            try {
                rows = data.rows(t.datasetPath(), t.datasetName(), t.split());
            } catch (T2rException e) {
                if (!options.partialGroups() || !inGroup(t, selection)) throw e;
                missing.add(t.name());
                continue;
            }
            results.add(runTask(t, rows, label));
        }
        Map<String, Map<String, Object>> groups = new LinkedHashMap<>();
        for (HarnessTask.Group g : selection.groups()) groups.put(g.name(), aggregateGroup(g, results));
        return new Results(results, groups, missing);
    }

    private static boolean inGroup(HarnessTask t, HarnessTasks.Selection s) {
        return s.groups().stream().anyMatch(g -> g.children().contains(t.name()));
    }

    /** A task that t2r runs zero-shot only fails before any task runs. */
    private void checkShots(HarnessTask task) {
        if (options.numFewshot() > 0) Fewshot.split(task, options.numFewshot());
    }

    TaskResult runTask(HarnessTask task, List<Row> rows, String label) {
        int shots = options.numFewshot();
        Fewshot fewshot = Fewshot.of(task, shots, data);
        int n = options.limit() == null ? rows.size() : Math.min(rows.size(), options.limit());
        List<Doc> docs = new ArrayList<>(n);
        List<String> prefixes = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            docs.add(task.toDoc().apply(rows.get(i)));
            prefixes.add(task.description() + fewshot.before(docs.getLast()));
        }
        Progress.Task p = progress.start(label + " " + task.name(), n, "documents");
        List<Scored> scored = new ArrayList<>(n);
        for (int from = 0; from < n; from += options.batchDocuments()) {
            int to = Math.min(n, from + options.batchDocuments());
            scored.addAll(scoreBatch(task, prefixes, docs, from, to));
            long tokens = 0;
            p.advance(to - from, tokens);
        }
        p.finish();
        return new TaskResult(task, shots, rows.size(), scored, aggregate(task, scored));
    }

    /** The (context, continuation) strings of a document, as the harness's {@code arguments}. */
    static List<String[]> arguments(Doc doc, String prefix) {
        List<String[]> out = new ArrayList<>();
        switch (doc) {
            case Doc.Choices c -> c.choices().forEach(choice -> out.add(new String[] {prefix + c.query(), " " + choice}));
            case Doc.Inputs in -> in.contexts().forEach(ctx -> out.add(new String[] {prefix + ctx, in.continuation()}));
            case Doc.Target t -> out.add(new String[] {prefix + t.context(), t.continuation()});
            case Doc.Rolling r -> out.add(new String[] {r.text()});
        }
        return out;
    }

    private List<Scored> scoreBatch(HarnessTask task, List<String> prefixes, List<Doc> docs, int from, int to) {
        List<Continuations> requests = new ArrayList<>();
        List<int[]> spans = new ArrayList<>();                     // per document: its requests and how they map back
        List<List<String[]>> args = new ArrayList<>();
        for (int d = from; d < to; d++) {
            List<String[]> a = arguments(docs.get(d), prefixes.get(d));
            args.add(a);
            int start = requests.size();
            if (docs.get(d) instanceof Doc.Rolling r) requests.addAll(encoder.rollingWindows(r.text()));
            else requests.addAll(merge(a.stream().map(x -> encoder.pair(x[0], x[1])).toList()));
            spans.add(new int[] {start, requests.size()});
        }
        List<Continuations.Score[]> answers = model.scoreContinuations(requests);
        List<Scored> out = new ArrayList<>();
        for (int d = from; d < to; d++) {
            int[] span = spans.get(d - from);
            List<Continuations.Score> flat = new ArrayList<>();
            for (int r = span[0]; r < span[1]; r++) flat.addAll(List.of(answers.get(r)));
            Doc doc = docs.get(d);
            if (doc instanceof Doc.Rolling) flat = List.of(sumWindows(flat));
            out.add(new Scored(d, doc, args.get(d - from), flat, docMetrics(task, doc, flat)));
        }
        return out;
    }

    /** Pairs with the same context tokens become one request with several continuations (read once). */
    static List<Continuations> merge(List<Continuations> pairs) {
        List<Continuations> out = new ArrayList<>();
        for (Continuations p : pairs) {
            Continuations last = out.isEmpty() ? null : out.getLast();
            if (last != null && java.util.Arrays.equals(last.context(), p.context())) {
                List<int[]> conts = new ArrayList<>(last.continuations());
                conts.addAll(p.continuations());
                out.set(out.size() - 1, new Continuations(last.context(), conts));
            } else {
                out.add(p);
            }
        }
        return out;
    }

    private static Continuations.Score sumWindows(List<Continuations.Score> windows) {
        double s = 0;
        for (Continuations.Score w : windows) s += w.logLikelihood();
        return new Continuations.Score(s, false);
    }

    /** The harness's {@code process_results}: each metric's value for one document. */
    static Map<String, Object> docMetrics(HarnessTask task, Doc doc, List<Continuations.Score> s) {
        Map<String, Object> m = new LinkedHashMap<>();
        switch (doc) {
            case Doc.Choices c -> {
                double[] ll = lls(s);
                m.put("acc", argmax(ll, null) == c.gold() ? 1.0 : 0.0);
                if (task.metrics().contains("acc_norm")) {
                    double[] chars = c.choices().stream().mapToDouble(Py::len).toArray();
                    m.put("acc_norm", argmax(ll, chars) == c.gold() ? 1.0 : 0.0);
                }
            }
            case Doc.Inputs in -> m.put("acc", argmax(lls(s), null) == in.gold() ? 1.0 : 0.0);
            case Doc.Target t -> {
                m.put("perplexity", s.getFirst().logLikelihood());
                m.put("acc", s.getFirst().greedy() ? 1 : 0);
            }
            case Doc.Rolling r -> {
                double ll = s.getFirst().logLikelihood();
                m.put("word_perplexity", new Object[] {ll, r.words()});
                m.put("byte_perplexity", new Object[] {ll, r.bytes()});
                m.put("bits_per_byte", new Object[] {ll, r.bytes()});
            }
        }
        return m;
    }

    private static double[] lls(List<Continuations.Score> s) {
        return s.stream().mapToDouble(Continuations.Score::logLikelihood).toArray();
    }

    /** numpy's argmax of {@code ll} (divided by {@code norm} when given): the first index of the largest. */
    static int argmax(double[] ll, double[] norm) {
        int best = 0;
        for (int i = 1; i < ll.length; i++) {
            double v = norm == null ? ll[i] : ll[i] / norm[i], b = norm == null ? ll[best] : ll[best] / norm[best];
            if (v > b) best = i;
        }
        return best;
    }

    /** The harness's aggregation of one task: {@code "metric,none"} and {@code "metric_stderr,none"} per metric. */
    Map<String, Object> aggregate(HarnessTask task, List<Scored> docs) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String metric : task.metrics()) {
            Object value, stderr = "N/A";
            switch (metric) {
                case "acc", "acc_norm" -> {
                    double[] x = docs.stream().mapToDouble(d -> ((Number) d.metrics().get(metric)).doubleValue()).toArray();
                    value = HarnessMetrics.mean(x);
                    if (x.length > 1) stderr = HarnessMetrics.meanStderr(x);
                }
                case "perplexity" -> {
                    double[] x = docs.stream().mapToDouble(d -> (Double) d.metrics().get(metric)).toArray();
                    value = HarnessMetrics.perplexity(x);
                    if (x.length > 1 && options.bootstrapIters() > 0) {
                        stderr = HarnessMetrics.bootstrapPerplexityStderr(x, options.bootstrapIters());
                    }
                }
                default -> {
                    double[] ll = docs.stream().mapToDouble(d -> (Double) ((Object[]) d.metrics().get(metric))[0]).toArray();
                    long[] units = docs.stream().mapToLong(d -> (Long) ((Object[]) d.metrics().get(metric))[1]).toArray();
                    value = metric.equals("bits_per_byte") ? HarnessMetrics.bitsPerByte(ll, units) : HarnessMetrics.weightedPerplexity(ll, units);
                }
            }
            out.put(metric + ",none", value);
            out.put(metric + "_stderr,none", stderr);
        }
        return out;
    }

    /** A group's {@code acc}: its leaf tasks' values weighted by their sizes, with the pooled standard error. */
    static Map<String, Object> aggregateGroup(HarnessTask.Group g, List<TaskResult> results) {
        List<String> leaves = leaves(g);
        List<Double> values = new ArrayList<>(), stderrs = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        boolean allStderrs = true;
        for (TaskResult r : results) {
            if (!leaves.contains(r.task().name())) continue;
            values.add((Double) r.aggregated().get("acc,none"));
            sizes.add(r.sampleLen());
            if (r.aggregated().get("acc_stderr,none") instanceof Double d) stderrs.add(d);
            else allStderrs = false;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("alias", g.alias());
        out.put("name", g.name());
        out.put("sample_len", sizes.stream().mapToInt(Integer::intValue).sum());
        if (!values.isEmpty()) {
            out.put("acc,none", HarnessMetrics.weightedBySize(values, sizes));
            out.put("acc_stderr,none", allStderrs ? HarnessMetrics.pooledStderr(stderrs, sizes) : "N/A");
            out.put("sample_count", Map.of("acc,none", sizes.stream().mapToInt(Integer::intValue).sum()));
        }
        return out;
    }

    /** A group's leaf tasks, through its subgroups. */
    static List<String> leaves(HarnessTask.Group g) {
        List<String> out = new ArrayList<>();
        for (String c : g.children()) {
            HarnessTask.Group sub = HarnessTasks.group(c);
            if (sub != null) out.addAll(leaves(sub));
            else out.add(c);
        }
        return out;
    }


}
