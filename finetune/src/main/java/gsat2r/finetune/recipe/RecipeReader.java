package gsat2r.finetune.recipe;

import gsat2r.core.io.InputFiles;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import gsat2r.core.T2rException;
import gsat2r.core.data.synthetic.KeyValueLists;
import gsat2r.core.data.synthetic.Needles;
import gsat2r.core.data.synthetic.RepeatedSpans;
import gsat2r.core.data.synthetic.SyntheticKind;
import gsat2r.core.data.synthetic.SyntheticMix;
import gsat2r.core.data.synthetic.SyntheticSpec;
import gsat2r.core.data.synthetic.VariableChains;
import gsat2r.finetune.student.ConversionOptions;
import gsat2r.training.Objective;
import gsat2r.training.TrainableSet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and validates a recipe. Every problem is found up front, before anything runs, and named by
 * its field path: {@code recipe.json: stages[1].lr: must be > 0}. All problems are reported together,
 * joined by {@code "; "} on one line. Unknown fields are errors (a misspelt field would otherwise be
 * silently ignored), with a suggestion when a known field is close. Structure only: whether the files
 * exist is checked when a run starts ({@link #checkPaths}).
 */
public final class RecipeReader {

    public static final List<String> STAGE_TYPES = List.of("attention-transfer", "distill", "finetune");
    /** Whose hidden states an attention-transfer stage runs each GSA layer on. */
    public static final List<String> HIDDEN_STATES = java.util.Arrays.stream(Objective.HiddenStates.values())
            .map(Objective.HiddenStates::spelling).toList();
    public static final List<String> DEVICES = List.of("cpu", "cuda");
    public static final List<String> PRECISIONS = List.of("fp32", "bf16");
    public static final List<String> GATE_INITS = List.of("random", "key-pool");
    public static final List<String> SHORT_CONV_INITS = List.of("identity", "random");
    public static final List<String> DTYPES = List.of("float32", "bfloat16");

    // Defaults (docs/recipes.md lists them too).
    static final int DEFAULT_SLOTS = 64;
    static final double DEFAULT_GATE_NORMALIZER = 8;
    static final long DEFAULT_CHECKPOINT_INTERVAL = 500;
    static final int DEFAULT_KEEP_CHECKPOINTS = 2;
    static final long DEFAULT_EVAL_TOKENS = 65536;
    static final double DEFAULT_MIN_LR_RATIO = 0.1;
    static final double DEFAULT_BETA1 = 0.9, DEFAULT_BETA2 = 0.95, DEFAULT_EPS = 1e-8, DEFAULT_GRAD_CLIP = 1.0;
    /** The most a stage's conv_lr_scale may multiply its learning rate by. */
    static final double MAX_CONV_LR_SCALE = 1000;

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    /** The same schema written as YAML ({@code .yaml}, {@code .yml}). */
    private static final YAMLMapper YAML = YAMLMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .build();
    private static final Pattern LORA = Pattern.compile("lora:(\\d+)");

    private RecipeReader() {}

    public static Recipe read(Path file) {
        return read(file, RecipeOverrides.NONE);
    }

    /** Reads {@code file} with {@code overrides} applied first ({@code t2r finetune --set}). */
    public static Recipe read(Path file, RecipeOverrides overrides) {
        InputFiles.requireFile(file, "a recipe (a JSON or YAML file)");
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new T2rException(file + ": no such file", e);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new T2rException(file + ": not UTF-8 text (a recipe is JSON or YAML)", e);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        return parse(file, text, overrides);
    }

    /** Parses recipe text as if it were the file {@code file} (paths resolve against its directory). */
    public static Recipe parse(Path file, String text) {
        return parse(file, text, RecipeOverrides.NONE);
    }

    public static Recipe parse(Path file, String text, RecipeOverrides overrides) {
        JsonNode root = tree(file, text);
        Problems problems = new Problems(file, overrides.paths());
        if (root == null || !root.isObject()) {
            problems.add("", "must be " + (isYaml(file) ? "a YAML mapping" : "a JSON object"));
            throw problems.failure();
        }
        overrides.applyTo((ObjectNode) root, file);
        Recipe recipe = new Builder(file, problems).build((ObjectNode) root);
        if (!problems.list.isEmpty()) throw problems.failure();
        return recipe;
    }

    /** YAML by the file's name, else JSON. */
    public static boolean isYaml(Path file) {
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return name.endsWith(".yaml") || name.endsWith(".yml");
    }

    private static JsonNode tree(Path file, String text) {
        boolean yaml = isYaml(file);
        try {
            return (yaml ? YAML : JSON).readTree(text);
        } catch (JsonProcessingException e) {
            throw new T2rException(file + ": not valid " + (yaml ? "YAML" : "JSON (a recipe is JSON, or YAML named .yaml or .yml)")
                    + gsat2r.core.io.Json.problem(e), e);
        }
    }

    /** Checks that the files a recipe names exist, with the same kind of message. */
    public static void checkPaths(Recipe r) {
        Problems problems = new Problems(r.file(), r.overridden());
        requireDir(problems, "teacher", r.teacher(), "config.json");
        if (r.student() instanceof Recipe.StudentDir(Path dir)) requireDir(problems, "student", dir, "config.json");
        switch (r.data()) {
            case Recipe.PreparedData(Path dir) -> requireDir(problems, "data.prepared", dir, "dataset.json");
            case Recipe.RawData raw -> {
                for (int i = 0; i < raw.train().size(); i++) requireFile(problems, "data.train[" + i + "]", raw.train().get(i));
                for (int i = 0; i < raw.validation().size(); i++) {
                    requireFile(problems, "data.validation[" + i + "]", raw.validation().get(i));
                }
            }
        }
        if (!problems.list.isEmpty()) throw problems.failure();
    }

    private static void requireDir(Problems p, String field, Path dir, String marker) {
        if (!Files.isDirectory(dir)) p.add(field, dir + ": no such directory");
        else if (!Files.isRegularFile(dir.resolve(marker))) p.add(field, dir + ": has no " + marker);
    }

    private static void requireFile(Problems p, String field, Path f) {
        if (!Files.isRegularFile(f)) p.add(field, f + ": no such file");
    }

    /** The problems found so far, each "path: message". */
    static final class Problems {
        final Path file;
        final Set<String> overridden;
        final List<String> list = new ArrayList<>();

        Problems(Path file, Set<String> overridden) {
            this.file = file;
            this.overridden = overridden;
        }

        /** Whether every problem is in a field that {@code --set} gave. */
        boolean allFromSet = true;

        void add(String path, String message) {
            // A field --set gave, or one inside an object or array it gave whole (--set stages.1={...}).
            boolean fromSet = overridden.stream().anyMatch(o -> path.equals(o) || path.startsWith(o + ".") || path.startsWith(o + "["));
            allFromSet &= fromSet;
            list.add(path.isEmpty() ? message : path + ": " + message + (fromSet ? " (from --set)" : ""));
        }

        /**
         * The problems in one line: led by {@code --set} when it made them all (a bad value given on the command line, a
         * usage error), else by the file.
         */
        T2rException failure() {
            if (allFromSet && !list.isEmpty()) {
                return new T2rException("--set: " + file + ": " + String.join("; ", list).replace(" (from --set)", ""));
            }
            return new T2rException(file + ": " + String.join("; ", list));
        }
    }

    /** Reads the fields in document order of docs/recipes.md, filling in defaults and the resolved JSON. */
    private static final class Builder {
        final Path file;
        final Path base;
        final Problems problems;
        final ObjectNode resolved = JSON.createObjectNode();

        Builder(Path file, Problems problems) {
            this.file = file;
            this.base = file.toAbsolutePath().normalize().getParent();
            this.problems = problems;
        }

        Path path(String s) {
            if (s == null) return null;
            try {
                return base.resolve(s).normalize();
            } catch (java.nio.file.InvalidPathException e) {
                throw new T2rException(file + ": \"" + s.replace("\0", "\\0") + "\" is not a valid path (" + e.getReason() + ")", e);
            }
        }

        Recipe build(ObjectNode root) {
            Obj r = new Obj(root, "", problems);
            String description = r.string("description", "", false);
            Path teacher = path(r.string("teacher", null, true));
            long seed = r.integer("seed", Long.MIN_VALUE, 0L, false);
            Recipe.Student student = student(r, seed);
            List<SyntheticSpec> synthetic = new ArrayList<>();
            Recipe.Data data = data(r, synthetic);
            int seqLen = (int) (long) atMost(r, "seq_len", r.integer("seq_len", 1, 1L, true));

            Long batch = atMost(r, "batch", r.integer("batch", 1, null, false));
            Long micro = atMost(r, "micro_batch", r.integer("micro_batch", 1, null, false));
            Long accum = atMost(r, "grad_accum", r.integer("grad_accum", 1, null, false));
            long[] bma = batching(r, batch, micro, accum);

            String device = r.choice("device", DEVICES, "cpu", false);
            String precision = r.choice("precision", PRECISIONS, "cuda".equals(device) ? "bf16" : "fp32", false);
            String outputDtype = r.choice("output_dtype", DTYPES, "bfloat16", false);
            long checkpointInterval = r.integer("checkpoint_interval", 0, DEFAULT_CHECKPOINT_INTERVAL, false);
            int keep = r.intValue("keep_checkpoints", 1, DEFAULT_KEEP_CHECKPOINTS, false);
            long evalTokens = r.integer("eval_tokens", 0, DEFAULT_EVAL_TOKENS, false);
            boolean recompute = r.bool("recompute", false);

            List<Stage> stages = stages(r, bma[0] * seqLen);
            answersToWeigh(stages, synthetic);
            r.finish();

            resolved.put("description", description);
            resolved.put("teacher", String.valueOf(teacher));
            resolved.put("seq_len", seqLen);
            resolved.put("batch", bma[0]);
            resolved.put("micro_batch", bma[1]);
            resolved.put("grad_accum", bma[2]);
            resolved.put("seed", seed);
            resolved.put("device", device);
            resolved.put("precision", precision);
            resolved.put("output_dtype", outputDtype);
            resolved.put("checkpoint_interval", checkpointInterval);
            resolved.put("keep_checkpoints", keep);
            resolved.put("eval_tokens", evalTokens);
            resolved.put("recompute", recompute);
            ObjectNode ordered = JSON.createObjectNode();        // a fixed field order, whatever the file's
            for (String k : List.of("description", "teacher", "student", "data", "seq_len", "batch", "micro_batch", "grad_accum",
                    "seed", "device", "precision", "output_dtype", "checkpoint_interval", "keep_checkpoints", "eval_tokens", "recompute",
                    "stages")) {
                if (resolved.has(k)) ordered.set(k, resolved.get(k));
            }
            return new Recipe(file, description, teacher, student, data, synthetic, seqLen, (int) bma[0], (int) bma[1], (int) bma[2],
                    seed, device, gsat2r.core.model.Precision.parse(precision, file.toString()),
                    "float32".equals(outputDtype) ? gsat2r.core.safetensors.DType.F32 : gsat2r.core.safetensors.DType.BF16, checkpointInterval, keep,
                    evalTokens, recompute, stages, ordered, problems.overridden);
        }

        /** batch = micro_batch · grad_accum, any two given (grad_accum defaults to 1). */
        long[] batching(Obj r, Long batch, Long micro, Long accum) {
            if (batch == null && micro == null) {
                r.problem("batch", "required (or micro_batch)");
                return new long[] {1, 1, 1};
            }
            long b, m, a;
            if (batch == null) {
                m = micro;
                a = accum == null ? 1 : accum;
                b = m * a;
            } else if (micro == null) {
                a = accum == null ? 1 : accum;
                b = batch;
                m = b / a;
                if (b % a != 0) {
                    r.problem("batch", "must be a multiple of grad_accum (" + b + " / " + a + ")");
                    m = Math.max(1, m);
                }
            } else {
                b = batch;
                m = micro;
                a = accum == null ? b / m : accum;
                if (accum == null && b % m != 0) r.problem("batch", "must be a multiple of micro_batch (" + b + " / " + m + ")");
                else if (b != m * a) {
                    r.problem("batch", "must equal micro_batch * grad_accum (" + b + " != " + m + " * " + a + ")");
                }
            }
            if (b > MAX_SIZE) r.problem("batch", "must be at most " + MAX_SIZE);
            return new long[] {b, Math.max(1, m), Math.max(1, a)};
        }

        /** The most tokens in a sequence, and sequences in a batch or a micro-batch, or micro-batches in a step. */
        static final long MAX_SIZE = 1 << 20;

        /** {@code v} (null: absent), refused above {@link #MAX_SIZE} and then read as that, so that no product overflows. */
        private static Long atMost(Obj r, String key, Long v) {
            if (v == null || v <= MAX_SIZE) return v;
            r.problem(key, "must be at most " + MAX_SIZE + " (got " + v + ")");
            return MAX_SIZE;
        }

        Recipe.Student student(Obj r, long seed) {
            JsonNode n = r.get("student");
            if (n != null && n.isTextual()) {
                Path dir = path(n.textValue());
                resolved.put("student", dir.toString());
                return new Recipe.StudentDir(dir);
            }
            Obj s;
            if (n == null) {
                s = new Obj(JSON.createObjectNode(), "student", problems);
            } else if (n.isObject()) {
                s = new Obj((ObjectNode) n, "student", problems);
            } else {
                r.problem("student", "must be a model directory or an object of conversion options");
                return new Recipe.Convert(new ConversionOptions(DEFAULT_SLOTS, DEFAULT_GATE_NORMALIZER, "random", List.of(), seed, "float32"));
            }
            int slots = s.intValue("slots", 1, DEFAULT_SLOTS, false);
            double tau = s.number("gate_normalizer", v -> v > 0, "> 0", DEFAULT_GATE_NORMALIZER, false);
            String init = s.choice("gate_init", GATE_INITS, "random", false);
            List<Integer> keep = new ArrayList<>();
            java.util.TreeMap<Integer, Integer> windows = new java.util.TreeMap<>();
            JsonNode k = s.get("keep_attention");
            if (k != null) {
                if (!k.isArray()) {
                    s.problem("keep_attention", "must be an array of layer indices (or \"LAYER:WINDOW\" strings)");
                } else {
                    Set<Integer> seen = new HashSet<>();
                    for (int i = 0; i < k.size(); i++) {
                        int[] lw = keptLayer(k.get(i));
                        if (lw == null) {
                            problems.add("student.keep_attention[" + i + "]", "must be a layer index >= 0 or \"LAYER:WINDOW\" with a window >= 1 (e.g. \"7:256\")");
                        } else if (!seen.add(lw[0])) {
                            problems.add("student.keep_attention[" + i + "]", "layer " + lw[0] + " listed twice");
                        } else {
                            keep.add(lw[0]);
                            if (lw[1] > 0) windows.put(lw[0], lw[1]);
                        }
                    }
                }
            }
            long studentSeed = s.integer("seed", Long.MIN_VALUE, seed, false);
            String dtype = s.choice("dtype", DTYPES, "float32", false);
            int shortConv = s.intValue("short_conv", 0, 0, false);
            String convInit = s.choice("short_conv_init", SHORT_CONV_INITS, "identity", false);
            int kvHeads = s.intValue("kv_heads", 0, 0, false);
            s.finish();
            ObjectNode o = resolved.putObject("student");
            o.put("slots", slots);
            o.put("gate_normalizer", tau);
            o.put("gate_init", init);
            ArrayNode ka = o.putArray("keep_attention");
            for (int l : keep) {
                if (windows.containsKey(l)) ka.add(l + ":" + windows.get(l));
                else ka.add(l);
            }
            o.put("seed", studentSeed);
            o.put("dtype", dtype);
            if (shortConv > 0) {                                   // absent at 0: run.json of earlier runs stays the same
                o.put("short_conv", shortConv);
                o.put("short_conv_init", convInit);
            }
            if (kvHeads > 0) o.put("kv_heads", kvHeads);          // absent at 0, as short_conv
            return new Recipe.Convert(new ConversionOptions(slots, tau, init, keep, windows, studentSeed, dtype, shortConv, convInit,
                    kvHeads));
        }

        /** A kept layer: an index, or "LAYER:WINDOW"; {layer, window or 0}, null when malformed. */
        private static int[] keptLayer(JsonNode e) {
            if (e.isIntegralNumber()) return e.asLong() < 0 || e.asLong() > Integer.MAX_VALUE ? null : new int[] {e.asInt(), 0};
            if (!e.isTextual() || !e.textValue().matches("\\d{1,9}(:\\d{1,9})?")) return null;
            String[] p = e.textValue().split(":");
            int window = p.length == 2 ? Integer.parseInt(p[1]) : 0;
            return p.length == 2 && window < 1 ? null : new int[] {Integer.parseInt(p[0]), window};
        }

        Recipe.Data data(Obj r, List<SyntheticSpec> synthetic) {
            Obj d = r.object("data", true);
            if (d == null) return new Recipe.PreparedData(base);
            ObjectNode o = resolved.putObject("data");
            if (d.has("prepared")) {
                Path dir = path(d.string("prepared", null, true));
                for (String other : List.of("train", "validation", "text_field", "validation_fraction")) {
                    if (d.has(other)) d.problem(other, "not allowed with data.prepared (the dataset is already split and tokenized)");
                }
                synthetic.addAll(synthetic(d));
                d.finish();
                o.put("prepared", String.valueOf(dir));
                if (!synthetic.isEmpty()) o.set("synthetic", resolvedSynthetic(synthetic));
                return new Recipe.PreparedData(dir == null ? base : dir);
            }
            List<Path> train = files(d, "train", true);
            List<Path> validation = files(d, "validation", false);
            String field = d.string("text_field", "text", false);
            double fraction = d.number("validation_fraction", v -> v >= 0 && v < 1, "in [0, 1)", 0.0, false);
            if (d.node.has("validation") && d.node.has("validation_fraction")) {
                d.problem("validation_fraction", "give either validation files or validation_fraction, not both");
            }
            synthetic.addAll(synthetic(d));
            d.finish();
            ArrayNode ta = o.putArray("train");
            train.forEach(p -> ta.add(p.toString()));
            ArrayNode va = o.putArray("validation");
            validation.forEach(p -> va.add(p.toString()));
            o.put("text_field", field);
            o.put("validation_fraction", fraction);
            if (!synthetic.isEmpty()) o.set("synthetic", resolvedSynthetic(synthetic));
            return new Recipe.RawData(train, validation, field, fraction);
        }

        /** Data files; standard input is refused: a run reads its data again when it resumes. */
        List<Path> files(Obj d, String key, boolean required) {
            List<String> names = d.strings(key, required);
            if (names.contains("-")) {
                d.problem(key, "- (standard input) cannot be read again on --resume; tokenize it with t2r data prepare --input -"
                        + " and give data.prepared");
            }
            return names.stream().filter(n -> !n.equals("-")).map(this::path).toList();
        }

        /** {@code data.synthetic}: the kinds of synthetic documents mixed into training, with their shares. */
        List<SyntheticSpec> synthetic(Obj d) {
            JsonNode n = d.get("synthetic");
            List<SyntheticSpec> out = new ArrayList<>();
            if (n == null) return out;
            if (!n.isArray()) {
                d.problem("synthetic", "must be an array of {\"kind\": ..., \"share\": ...} objects");
                return out;
            }
            double total = 0;
            for (int i = 0; i < n.size(); i++) {
                String at = d.at("synthetic") + "[" + i + "]";
                if (!n.get(i).isObject()) {
                    problems.add(at, "must be an object with kind and share");
                    continue;
                }
                SyntheticSpec spec = syntheticSpec(new Obj((ObjectNode) n.get(i), at, problems));
                if (spec != null) {
                    out.add(spec);
                    total += spec.share();
                }
            }
            if (total > 1 + 1e-9) d.problem("synthetic", "the shares add up to " + total + ", more than 1");
            return out;
        }

        SyntheticSpec syntheticSpec(Obj e) {
            String kind = e.choice("kind", SyntheticKind.NAMES, null, true);
            Double share = e.number("share", v -> v >= 0 && v <= 1, "in [0, 1]", null, true);
            SyntheticKind k = null;
            try {
                k = kind == null ? null : switch (kind) {
                    case "kv-recall" -> new KeyValueLists(integer(e, "min_pairs", KeyValueLists.DEFAULTS.minPairs()),
                            integer(e, "max_pairs", KeyValueLists.DEFAULTS.maxPairs()),
                            e.number("gap_share", v -> v >= 0 && v <= 1, "in [0, 1]", KeyValueLists.DEFAULTS.gapShare(), false),
                            e.number("bare_share", v -> v >= 0 && v <= 1, "in [0, 1]", KeyValueLists.DEFAULTS.bareShare(), false),
                            e.number("fact_share", v -> v >= 0 && v <= 1, "in [0, 1]", KeyValueLists.DEFAULTS.factShare(), false),
                            e.number("decoy_share", v -> v >= 0 && v <= 1, "in [0, 1]", KeyValueLists.DEFAULTS.decoyShare(), false));
                    case "needles" -> new Needles(integer(e, "max_needles", Needles.DEFAULTS.maxNeedles()),
                            integer(e, "max_values", Needles.DEFAULTS.maxValues()),
                            e.number("filler_share", v -> v >= 0 && v <= 1, "in [0, 1]", Needles.DEFAULTS.fillerShare(), false),
                            e.number("decoy_share", v -> v >= 0 && v <= 1, "in [0, 1]", Needles.DEFAULTS.decoyShare(), false));
                    case "repeats" -> new RepeatedSpans(integer(e, "min_span", RepeatedSpans.DEFAULTS.minSpan()),
                            integer(e, "max_span", RepeatedSpans.DEFAULTS.maxSpan()));
                    default -> new VariableChains(integer(e, "max_chain", VariableChains.DEFAULTS.maxChain()));
                };
            } catch (T2rException ex) {
                problems.add(e.path, ex.getMessage());
            }
            if (share != null && Math.abs(share * SyntheticMix.BLOCK - Math.round(share * SyntheticMix.BLOCK)) > 1e-6) {
                e.problem("share", "must be a multiple of " + 1.0 / SyntheticMix.BLOCK + " (got " + share + ")");
                share = null;
            }
            e.finish();
            return k == null || share == null ? null : new SyntheticSpec(k, share);
        }

        private static int integer(Obj e, String key, int dflt) {
            return e.intValue(key, 1, dflt, false);
        }

        private static ArrayNode resolvedSynthetic(List<SyntheticSpec> specs) {
            ArrayNode a = JSON.createArrayNode();
            for (SyntheticSpec s : specs) {
                ObjectNode o = a.addObject();
                o.put("kind", s.kind().name());
                o.put("share", s.share());
                s.kind().settings().forEach((k, v) -> o.set(k, JSON.valueToTree(v)));
            }
            return a;
        }

        List<Stage> stages(Obj r, long tokensPerStep) {
            JsonNode n = r.get("stages");
            List<Stage> out = new ArrayList<>();
            ArrayNode resolvedStages = resolved.putArray("stages");
            if (n == null) {
                r.problem("stages", "required");
                return out;
            }
            if (!n.isArray() || n.isEmpty()) {
                r.problem("stages", "must be a non-empty array of stages");
                return out;
            }
            Set<String> names = new HashSet<>();
            for (int i = 0; i < n.size(); i++) {
                String at = "stages[" + i + "]";
                if (!n.get(i).isObject()) {
                    problems.add(at, "must be an object");
                    continue;
                }
                Stage s = stage(new Obj((ObjectNode) n.get(i), at, problems), i, tokensPerStep, resolvedStages.addObject());
                if (s != null && !names.add(s.name())) {
                    problems.add(at + ".name", "\"" + s.name() + "\" names an earlier stage too; give each stage a distinct name");
                }
                if (s != null) out.add(s);
            }
            return out;
        }

        /** A distill stage's answer_weight needs synthetic documents in its data: without them it would weigh nothing. */
        void answersToWeigh(List<Stage> stages, List<SyntheticSpec> recipes) {
            for (Stage st : stages) {
                if (!(st.objective() instanceof Objective.Distill d) || !d.needsAnswers()) continue;
                List<SyntheticSpec> mix = new ArrayList<>(st.synthetic() != null ? st.synthetic() : recipes);
                if (st.mixSwitch() != null) mix.addAll(st.mixSwitch().synthetic());
                Set<String> trained = new HashSet<>();                  // the kinds the stage trains on, before or after its switch
                for (SyntheticSpec x : mix) if (x.share() > 0) trained.add(x.kind().name());
                if (trained.isEmpty()) {
                    problems.add("stages[" + st.index() + "].answer_weight" + (d.answerWeight() != 1 ? "" : "s"),
                            "the stage trains on the corpus alone, whose text has no answers to weigh; give it synthetic data (data.synthetic or the stage's synthetic)");
                    continue;
                }
                for (String k : SyntheticKind.NAMES.stream().filter(d.answerWeights()::containsKey).toList()) {
                    if (!trained.contains(k)) {
                        problems.add("stages[" + st.index() + "].answer_weights." + k,
                                "the stage's synthetic data has no " + k + " documents, so the weight would weigh nothing");
                    }
                }
            }
        }

        /** A stage's answer_weights: the answer weight of each synthetic kind it names (none: an empty map). */
        Map<String, Double> answerWeights(Obj s) {
            Obj aw = s.object("answer_weights", false);
            if (aw == null) return Map.of();
            Map<String, Double> out = new java.util.LinkedHashMap<>();
            for (String k : SyntheticKind.NAMES) {
                Double w = aw.number(k, v -> v >= 0 && v <= Objective.MAX_RECALL_WEIGHT, "in [0, " + (int) Objective.MAX_RECALL_WEIGHT + "]", null, false);
                if (w != null) out.put(k, w);
            }
            aw.finish();
            return out;
        }

        Stage stage(Obj s, int index, long tokensPerStep, ObjectNode o) {
            String type = s.choice("type", STAGE_TYPES, null, true);
            String name = s.string("name", type == null ? "stage-" + index : type, false);
            Long length = stepsOrTokens(s, "steps", "steps", tokensPerStep);
            long resolvedSteps = length != null ? length : 1;
            double lr = s.number("lr", v -> v > 0, "> 0", 1e-4, true);
            Long warmupSteps = s.integer("warmup_steps", 0, null, false);
            Double warmupFraction = s.number("warmup_fraction", v -> v >= 0 && v < 1, "in [0, 1)", null, false);
            long warmup = 0;
            if (warmupSteps != null && warmupFraction != null) s.problem("warmup_steps", "give warmup_steps or warmup_fraction, not both");
            else if (warmupSteps != null) warmup = warmupSteps;
            else if (warmupFraction != null) warmup = Math.round(warmupFraction * resolvedSteps);
            boolean lengthKnown = length != null;
            if (lengthKnown && (warmup >= resolvedSteps && resolvedSteps > 1 || warmup > 0 && resolvedSteps == 1)) {
                s.problem(warmupSteps != null ? "warmup_steps" : "warmup_fraction",
                        "warmup (" + warmup + " steps) must be shorter than the stage (" + resolvedSteps + " steps)");
            }
            double minRatio = s.number("min_lr_ratio", v -> v >= 0 && v <= 1, "in [0, 1]", DEFAULT_MIN_LR_RATIO, false);
            double wd = s.number("weight_decay", v -> v >= 0, ">= 0", 0.0, false);
            double convLrScale = s.number("conv_lr_scale", v -> v > 0 && v <= MAX_CONV_LR_SCALE, "in (0, " + (int) MAX_CONV_LR_SCALE + "]",
                    1.0, false);
            double beta1 = DEFAULT_BETA1, beta2 = DEFAULT_BETA2;
            JsonNode betas = s.get("betas");
            if (betas != null) {
                if (!betas.isArray() || betas.size() != 2 || !betas.get(0).isNumber() || !betas.get(1).isNumber()) {
                    s.problem("betas", "must be two numbers [beta1, beta2]");
                } else {
                    beta1 = betas.get(0).asDouble();
                    beta2 = betas.get(1).asDouble();
                    if (!(beta1 >= 0 && beta1 < 1)) problems.add(s.at("betas") + "[0]", "must be in [0, 1) (got " + beta1 + ")");
                    if (!(beta2 >= 0 && beta2 < 1)) problems.add(s.at("betas") + "[1]", "must be in [0, 1) (got " + beta2 + ")");
                }
            }
            double eps = s.number("eps", v -> v > 0, "> 0", DEFAULT_EPS, false);
            double clip = s.number("grad_clip", v -> v >= 0, ">= 0 (0 switches clipping off)", DEFAULT_GRAD_CLIP, false);
            String defaultTrainable = "attention-transfer".equals(type) ? "attention" : "all";
            String trainableText = s.string("trainable", defaultTrainable, false);
            Double loraAlpha = s.number("lora_alpha", v -> v > 0, "> 0", null, false);
            TrainableSet trainable = trainable(s, trainableText, loraAlpha, type);
            long evalInterval = s.integer("eval_interval", 0, 0L, false);
            Double temperature = s.number("temperature", v -> v > 0, "> 0", null, false);
            Double ceWeight = s.number("ce_weight", v -> v >= 0 && v <= 1, "in [0, 1]", null, false);
            Double recallWeight = s.number("recall_weight", v -> v >= 0 && v <= Objective.MAX_RECALL_WEIGHT,
                    "in [0, " + (int) Objective.MAX_RECALL_WEIGHT + "]", null, false);
            Double answerWeight = s.number("answer_weight", v -> v >= 0 && v <= Objective.MAX_RECALL_WEIGHT,
                    "in [0, " + (int) Objective.MAX_RECALL_WEIGHT + "]", null, false);
            Map<String, Double> answerWeights = answerWeights(s);
            String hiddenStates = s.choice("hidden_states", HIDDEN_STATES, Objective.HiddenStates.TEACHER.spelling(), false);
            if (!"attention-transfer".equals(type) && s.get("hidden_states") != null) {
                s.problem("hidden_states", "only for attention-transfer stages");
            }
            List<SyntheticSpec> synthetic = s.get("synthetic") == null ? null : synthetic(s);
            Stage.MixSwitch mixSwitch = mixSwitch(s, resolvedSteps, tokensPerStep, lengthKnown);
            if (!"distill".equals(type)) {
                if (temperature != null) s.problem("temperature", "only for distill stages");
                if (ceWeight != null) s.problem("ce_weight", "only for distill stages");
                if (recallWeight != null) s.problem("recall_weight", "only for distill stages");
                if (answerWeight != null) s.problem("answer_weight", "only for distill stages");
                if (s.get("answer_weights") != null) s.problem("answer_weights", "only for distill stages");
            }
            s.finish();
            if (type == null) return null;
            Objective objective = switch (type) {
                case "attention-transfer" -> new Objective.AttentionTransfer(Objective.HiddenStates.of(hiddenStates));
                case "distill" -> new Objective.Distill(temperature == null ? 1.0 : temperature, ceWeight == null ? 0.0 : ceWeight,
                        recallWeight == null ? 1.0 : recallWeight, answerWeight == null ? 1.0 : answerWeight, answerWeights);
                default -> new Objective.LanguageModeling();
            };
            o.put("name", name);
            o.put("type", type);
            o.put("steps", resolvedSteps);
            o.put("lr", lr);
            o.put("warmup_steps", warmup);
            o.put("min_lr_ratio", minRatio);
            o.put("weight_decay", wd);
            if (convLrScale != 1) o.put("conv_lr_scale", convLrScale);     // absent at 1: run.json of earlier runs stays the same
            o.putArray("betas").add(beta1).add(beta2);
            o.put("eps", eps);
            o.put("grad_clip", clip);
            o.put("trainable", trainable == null ? trainableText : trainable.spelling());
            if (trainable instanceof TrainableSet.Lora l) o.put("lora_alpha", l.alpha());
            o.put("eval_interval", evalInterval);
            if (objective instanceof Objective.AttentionTransfer at && at.states() != Objective.HiddenStates.TEACHER) {
                o.put("hidden_states", at.states().spelling());     // absent for the teacher's: run.json of earlier runs stays the same
            }
            if (objective instanceof Objective.Distill d) {
                o.put("temperature", d.temperature());
                o.put("ce_weight", d.ceWeight());
                if (d.recallWeight() != 1) o.put("recall_weight", d.recallWeight());
                if (d.answerWeight() != 1) o.put("answer_weight", d.answerWeight());
                if (!d.answerWeights().isEmpty()) {
                    ObjectNode aw = o.putObject("answer_weights");
                    SyntheticKind.NAMES.stream().filter(d.answerWeights()::containsKey).forEach(k -> aw.put(k, d.answerWeights().get(k)));
                }
            }
            if (synthetic != null) o.set("synthetic", resolvedSynthetic(synthetic));   // absent: the recipe's, as in earlier runs
            if (mixSwitch != null) {
                ObjectNode sw = o.putObject("synthetic_switch");
                sw.put("after_steps", mixSwitch.afterSteps());
                sw.set("synthetic", resolvedSynthetic(mixSwitch.synthetic()));
            }
            if (trainable == null) return null;
            return new Stage(index, name, objective, resolvedSteps, lr, warmup, minRatio, wd, beta1, beta2, eps, clip,
                    trainable, evalInterval, convLrScale, synthetic, mixSwitch);
        }

        /**
         * {@code stages[i].synthetic_switch}: {@code {"tokens": N, "synthetic": [...]}} (or {@code after_steps} for
         * tokens): after N tokens of the stage (whole steps, rounded up) its sequences come from that mix.
         */
        Stage.MixSwitch mixSwitch(Obj s, long stageSteps, long tokensPerStep, boolean lengthKnown) {
            Obj w = s.object("synthetic_switch", false);
            if (w == null) return null;
            Long after = stepsOrTokens(w, "after_steps", "tokens", tokensPerStep);
            boolean given = w.get("synthetic") != null;
            if (!given) w.problem("synthetic", "required: the mix after the switch ([] for the corpus alone)");
            List<SyntheticSpec> mix = synthetic(w);
            w.finish();
            if (after == null || !given) return null;
            if (lengthKnown && after >= stageSteps) {
                w.problem(w.has("after_steps") ? "after_steps" : "tokens", "the switch (after " + after + " steps) must come before the stage ends ("
                        + stageSteps + " steps)");
                return null;
            }
            return new Stage.MixSwitch(after, mix);
        }

        /**
         * A length given in steps ({@code stepsKey}) or in {@code tokens} (rounded up to whole steps of
         * {@code tokensPerStep}), not both: the steps, or null when neither is given or the given one is refused. Its
         * problems are reported on {@code first}, the key its messages name first.
         */
        Long stepsOrTokens(Obj o, String stepsKey, String first, long tokensPerStep) {
            Long steps = o.integer(stepsKey, 1, null, false);
            Long tokens = o.integer("tokens", 1, null, false);
            String second = first.equals(stepsKey) ? "tokens" : stepsKey;
            if (steps != null && tokens != null) o.problem(first, "give " + first + " or " + second + ", not both");
            if (steps == null && tokens == null && !o.node.has(stepsKey) && !o.node.has("tokens")) o.problem(first, "required (or " + second + ")");
            return steps != null ? steps : tokens != null ? (tokens + tokensPerStep - 1) / tokensPerStep : null;
        }

        TrainableSet trainable(Obj s, String text, Double loraAlpha, String type) {
            TrainableSet t;
            Matcher m = LORA.matcher(text);
            if (text.equals("gates")) t = new TrainableSet.Gates();
            else if (text.equals("attention")) t = new TrainableSet.Attention();
            else if (text.equals("all")) t = new TrainableSet.All();
            else if (m.matches() && m.group(1).length() <= 5 && Integer.parseInt(m.group(1)) >= 1) {
                int rank = Integer.parseInt(m.group(1));
                t = new TrainableSet.Lora(rank, loraAlpha == null ? 2.0 * rank : loraAlpha);
            } else {
                s.problem("trainable", "must be gates, attention, all or lora:R with a rank R >= 1 (got \"" + text + "\")");
                return null;
            }
            if (loraAlpha != null && !(t instanceof TrainableSet.Lora)) s.problem("lora_alpha", "only with trainable lora:R");
            if ("attention-transfer".equals(type) && t instanceof TrainableSet.All) {
                s.problem("trainable", "attention transfer trains GSA layers only: use gates, attention or lora:R");
            }
            return t;
        }
    }
}
