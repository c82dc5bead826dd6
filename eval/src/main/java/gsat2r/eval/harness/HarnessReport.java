package gsat2r.eval.harness;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.io.Json;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.datasets.Row;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes one model's results in lm-evaluation-harness's shape: {@code results.json} ({@code results.<task>."acc,none"},
 * {@code "acc_stderr,none"}, {@code groups}, {@code group_subtasks}, {@code configs}, {@code versions},
 * {@code n-shot}, {@code higher_is_better}, {@code n-samples}, {@code config}, tokenizer fields), and with
 * {@code --log-samples} one {@code samples_<task>.jsonl} per task (the harness's per-document records).
 */
public final class HarnessReport {
    private HarnessReport() {}

    static final ObjectMapper JSON = Json.PRETTY;

    /** Who ran what, for the results' {@code config} and identification fields. */
    public record Run(String modelPath, String device, int batchDocuments, Integer limit, int bootstrapIters,
                      HarnessEncoder.Bos bos, int maxLength, Path taskData, String t2rVersion, double startedEpochSeconds,
                      double seconds) {}

    public static Map<String, Object> results(HarnessRunner.Results r, Run run, Tokenizer tokenizer) {
        Map<String, Object> results = new LinkedHashMap<>(), configs = new LinkedHashMap<>(), versions = new LinkedHashMap<>(),
                nShot = new LinkedHashMap<>(), better = new LinkedHashMap<>(), nSamples = new LinkedHashMap<>();
        for (HarnessRunner.TaskResult t : r.tasks()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", t.task().name());
            m.put("alias", t.task().alias());
            m.put("sample_len", t.sampleLen());
            m.putAll(t.aggregated());
            results.put(t.task().name(), m);
            Map<String, Object> c = new LinkedHashMap<>(t.task().config());
            c.put("num_fewshot", t.numFewshot());
            configs.put(t.task().name(), c);
            versions.put(t.task().name(), t.task().version());
            nShot.put(t.task().name(), t.numFewshot());
            Map<String, Object> hib = new LinkedHashMap<>();
            for (String metric : t.task().metrics()) hib.put(metric, HarnessTask.higherIsBetter(metric));
            better.put(t.task().name(), hib);
            nSamples.put(t.task().name(), Map.of("original", t.originalDocs(), "effective", t.sampleLen()));
        }
        Map<String, Object> groupSubtasks = new LinkedHashMap<>();
        for (Map.Entry<String, Map<String, Object>> g : r.groups().entrySet()) {
            results.put(g.getKey(), g.getValue());
            HarnessTask.Group group = HarnessTasks.group(g.getKey());
            groupSubtasks.put(g.getKey(), group.children());
            versions.put(g.getKey(), group.version());
            if (!r.tasks().isEmpty()) nShot.put(g.getKey(), r.tasks().getFirst().numFewshot());
            better.put(g.getKey(), Map.of("acc", true));
        }
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("results", results);
        if (!r.groups().isEmpty()) o.put("groups", new LinkedHashMap<>(r.groups()));
        o.put("group_subtasks", groupSubtasks);
        o.put("configs", sorted(configs));
        o.put("versions", sorted(versions));
        o.put("n-shot", sorted(nShot));
        o.put("higher_is_better", sorted(better));
        o.put("n-samples", nSamples);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("model", "t2r");
        config.put("model_args", "pretrained=" + run.modelPath() + ",add_bos_token=" + bosArg(run.bos()) + ",max_length=" + run.maxLength());
        config.put("batch_size", String.valueOf(run.batchDocuments()));
        config.put("batch_sizes", List.of());
        config.put("device", run.device());
        config.put("use_cache", null);
        config.put("limit", run.limit());
        config.put("bootstrap_iters", run.bootstrapIters());
        config.put("gen_kwargs", null);
        o.put("config", config);
        o.put("git_hash", null);
        o.put("date", run.startedEpochSeconds());
        o.put("tokenizer_bos_token", tokenizer.bosId().isPresent() ? token(tokenizer, tokenizer.bosId().getAsInt()) : null);
        int[] eos = tokenizer.eosIds();
        o.put("tokenizer_eos_token", eos.length > 0 ? token(tokenizer, eos[0]) : null);
        o.put("eot_token_id", eos.length > 0 ? eos[0] : null);
        o.put("max_length", run.maxLength());
        o.put("model_source", "t2r");
        o.put("model_name", run.modelPath());
        o.put("model_name_sanitized", run.modelPath().replaceAll("[^A-Za-z0-9._-]", "__"));
        Map<String, Object> t2r = new LinkedHashMap<>();
        t2r.put("version", run.t2rVersion());
        t2r.put("harness_commit", HarnessTasks.HARNESS_COMMIT);
        t2r.put("task_data", run.taskData().toAbsolutePath().normalize().toString());
        t2r.put("add_bos_token", bosArg(run.bos()));
        if (!r.missingTasks().isEmpty()) t2r.put("missing_subtasks", r.missingTasks());
        o.put("t2r", t2r);
        o.put("total_evaluation_time_seconds", String.valueOf(run.seconds()));
        return o;
    }

    static String bosArg(HarnessEncoder.Bos bos) {
        return switch (bos) {
            case AUTO -> "None";
            case TRUE -> "True";
            case FALSE -> "False";
        };
    }

    private static List<String> token(Tokenizer t, int id) {
        return List.of(t.token(id), String.valueOf(id));
    }

    private static Map<String, Object> sorted(Map<String, Object> m) {
        return new java.util.TreeMap<>(m);
    }

    /** Writes {@code results.json} and, when asked, the samples logs into {@code dir}. */
    public static void write(Path dir, Map<String, Object> results, HarnessRunner.Results r, boolean logSamples) {
        AtomicFiles.writeString(dir.resolve("results.json"), json(results) + "\n");
        if (!logSamples) return;
        for (HarnessRunner.TaskResult t : r.tasks()) {
            StringBuilder s = new StringBuilder();
            for (HarnessRunner.Scored d : t.docs()) s.append(compact(sample(d))).append('\n');
            AtomicFiles.writeString(dir.resolve("samples_" + t.task().name() + ".jsonl"), s.toString());
        }
    }

    /** One document as the harness logs it with {@code --log_samples}. */
    static Map<String, Object> sample(HarnessRunner.Scored d) {
        Object target = switch (d.doc()) {
            case Doc.Choices c -> c.target();
            case Doc.Inputs in -> in.continuation().substring(1);
            case Doc.Target t -> t.continuation();
            case Doc.Rolling ro -> ro.text();
        };
        boolean rolling = d.doc() instanceof Doc.Rolling;
        List<Object> resps = new ArrayList<>(), filtered = new ArrayList<>();
        for (var s : d.scores()) {
            Object one = rolling ? (Object) s.logLikelihood() : List.of(s.logLikelihood(), s.greedy());
            resps.add(List.of(one));
            filtered.add(one);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("doc_id", d.docId());
        m.put("doc", d.doc().fields());
        m.put("target", target);
        m.put("arguments", d.arguments());
        m.put("resps", resps);
        m.put("filtered_resps", filtered);
        m.put("filter", "none");
        m.put("metrics", List.copyOf(d.metrics().keySet()));
        m.put("doc_hash", sha256(PythonJson.dumps(d.doc().fields())));
        m.put("prompt_hash", sha256(d.arguments().getFirst()[0]));
        m.put("target_hash", sha256(String.valueOf(target)));
        for (Map.Entry<String, Object> e : d.metrics().entrySet()) m.put(e.getKey(), e.getValue());
        return m;
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String json(Object o) {
        try {
            return JSON.writeValueAsString(plain(o));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static final ObjectMapper COMPACT = Json.COMPACT;

    static String compact(Object o) {
        try {
            return COMPACT.writeValueAsString(plain(o));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Rows as maps, so that Jackson writes their fields. */
    private static Object plain(Object o) {
        return switch (o) {
            case Row r -> plain(r.fields());
            case Map<?, ?> m -> {
                Map<Object, Object> out = new LinkedHashMap<>();
                m.forEach((k, v) -> out.put(k, plain(v)));
                yield out;
            }
            case List<?> l -> l.stream().map(HarnessReport::plain).toList();
            case Object[] a -> java.util.Arrays.stream(a).map(HarnessReport::plain).toList();
            case byte[] b -> HexFormat.of().formatHex(b);
            case null, default -> o;
        };
    }
}
