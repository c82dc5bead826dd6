package gsat2r.finetune.plan;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.core.T2rException;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.data.PreparedDataset;
import gsat2r.core.data.synthetic.KeyValueLists;
import gsat2r.core.data.synthetic.Needles;
import gsat2r.core.data.synthetic.RepeatedSpans;
import gsat2r.core.data.synthetic.SyntheticContext;
import gsat2r.core.data.synthetic.SyntheticKind;
import gsat2r.core.data.synthetic.SyntheticSpec;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.finetune.Plugins;
import gsat2r.finetune.Trainer;
import gsat2r.finetune.TrainingListener;
import gsat2r.finetune.recipe.Recipe;
import gsat2r.finetune.recipe.RecipeReader;
import gsat2r.finetune.student.GsaStudentConverter;
import gsat2r.training.Device;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * {@code t2r plan}: chooses which layers of a recipe's student stay softmax attention under a budget,
 * from measurements.
 *
 * <ol>
 * <li>A short attention transfer of the all-GSA student (the recipe's first attention-transfer stage, its
 *     data with their synthetic documents, cut to {@code atTokens}): each layer's validation MSE against
 *     its teacher layer says how hard that layer is to linearize.</li>
 * <li>Recall probes ({@link RecallProbes}: documents of the recipe's synthetic kinds, the answer's
 *     log-probability after the prompt) scored for the teacher, the all-GSA student, the student with one
 *     layer restored to attention (each layer), and the teacher with one layer linearized (each layer).</li>
 * <li>When every set of {@code budget} layers is few ({@link Measurer#MAX_EVERY_SET}), each is measured from the
 *     teacher's side and the best taken. Otherwise backward elimination: starting from the teacher (every layer
 *     attention), turn into its trained GSA layer the layer whose linearization costs the probes least, step
 *     after step, until the budget is left (each step measured with the layers already linearized, so that two
 *     layers doing the same job are not both kept); greedy, so it can drop a layer that matters only together
 *     with another, which is why every set is measured when that is affordable. Both from the teacher's side
 *     because attention transfer trains each GSA layer on the teacher's hidden states: the configurations
 *     compared are those the short run trained for.</li>
 * <li>The teacher's retrieval circuit ({@link AttentionPatterns}: induction heads on random tokens said twice,
 *     and the previous-token heads before them), when it has one, decides the layers: measured on 54 trained
 *     hybrids of recall-llama, every hybrid that recalls its lists keeps the layer with its induction heads
 *     (docs/recall.md), where the probes after a short attention transfer chose layers that recall nothing.
 *     With room left, or without induction heads, the probes choose (the best measured set that
 *     holds the circuit).</li>
 * <li>For each chosen layer, the smallest of {@code windows} whose sliding window costs at most
 *     {@code windowTolerance} nats per answer token is taken instead of full attention, if the plan with full
 *     attention answers some probes exactly (otherwise the probes cannot tell what a window loses).</li>
 * </ol>
 * Written to {@code out}: {@code plan.json} (every measurement), {@code plan.md}, {@code student/} (the teacher
 * converted with the plan's layers kept), {@code recipe.json} and {@code recipe-naive.json} (the recipe with
 * the plan's layers, and with the first and last layers at the same budget), {@code at/} (the short run).
 */
public final class HybridPlanner {
    private HybridPlanner() {}

    static final JsonMapper JSON = JsonMapper.builder().build();

    /**
     * @param atTokens        tokens of the short attention transfer
     * @param probesPerKind   probes of each synthetic kind
     * @param windows         sliding windows tried for each chosen layer (empty: full attention only)
     * @param windowTolerance nats per answer token a window may cost
     * @param device          where the short run and the probes run (null: the recipe's device)
     */
    public record Options(Path recipe, Path out, int budget, long atTokens, int probesPerKind, List<Integer> windows,
                          double windowTolerance, String device, boolean force) {
        public Options {
            if (budget < 1) throw new T2rException("--budget must be at least 1 layer, not " + budget);
            if (atTokens < 1) throw new T2rException("--at-tokens must be positive, not " + atTokens);
            if (probesPerKind < 1) throw new T2rException("--probes must be at least 1, not " + probesPerKind);
            windows = windows.stream().sorted().toList();
            for (int w : windows) if (w < 1) throw new T2rException("--windows: a window must be at least 1 token, not " + w);
        }
    }

    /** One measured candidate: the layers that are attention, their windows, its probe score. */
    public record Candidate(String name, List<Integer> attention, SortedMap<Integer, Integer> windows, RecallProbes.Score score) {}

    /** The plan and the measurements behind it. */
    public record Result(Path out, Plan plan) {}

    public static Result run(Options o, Plugins plugins, TrainingListener listener) {
        Recipe recipe = RecipeReader.read(o.recipe());
        RecipeReader.checkPaths(recipe);
        if (!(recipe.student() instanceof Recipe.Convert convert)) {
            throw new T2rException(o.recipe() + ": student: t2r plan needs conversion options (an object), not a student directory");
        }
        LlamaConfig teacher = LlamaConfig.load(recipe.teacher());
        int layers = teacher.numHiddenLayers();
        if (o.budget() >= layers) {
            throw new T2rException("--budget " + o.budget() + " keeps every one of the teacher's " + layers + " layers: nothing to plan");
        }
        prepareOut(o.out(), o.force());
        listener.note("plan: attention patterns of the teacher (induction and previous-token heads, on the CPU)");
        AttentionPatterns patterns = AttentionPatterns.measure(recipe.teacher(), AttentionPatterns.SEQUENCES, AttentionPatterns.LENGTH,
                AttentionPatterns.SEED);
        Path atDir = o.out().resolve("at");
        Path atRecipe = RecipeRewrite.writeAttentionTransfer(recipe, o.out().resolve("at.json"), o.atTokens(), o.device());
        listener.note("plan: attention transfer of the all-GSA student on " + String.format(Locale.ROOT, "%,d", o.atTokens()) + " tokens into " + atDir);
        Trainer.run(new Trainer.Options(atRecipe, atDir, false, false), plugins, listener);
        Measurer m = new Measurer(recipe, convert, teacher, atDir, o, plugins, listener);
        Plan plan = m.plan(o.budget(), patterns);
        writeOutputs(o, recipe, convert, plan);
        return new Result(o.out(), plan);
    }

    /** The output directory: must not exist or be empty, unless {@code force} (then only a former plan is replaced). */
    private static void prepareOut(Path out, boolean force) {
        try {
            if (Files.isDirectory(out)) {
                boolean empty;
                try (Stream<Path> s = Files.list(out)) {
                    empty = s.findAny().isEmpty();
                }
                if (!empty && !force) throw new T2rException(out + ": exists and is not empty (give --force to replace a former plan)");
                if (!empty && !Files.isRegularFile(out.resolve("at.json")) && !Files.isRegularFile(out.resolve("plan.json"))) {
                    throw new T2rException(out + ": is not a t2r plan directory; not deleting it");
                }
                if (!empty) AtomicFiles.refuseToReplaceCurrentDirectory(out, out);
                deleteTree(out);
            }
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new T2rException(out + ": cannot create (" + e.getMessage() + ")", e);
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static void writeOutputs(Options o, Recipe recipe, Recipe.Convert convert, Plan plan) {
        ConvertOptions conversion = GsaStudentConverter.options(convert.options()).withKeepAttention(plan.layers(), plan.windows());
        Converter.convert(recipe.teacher(), o.out().resolve("student"), conversion, false);
        RecipeRewrite.writeWithLayers(recipe, o.out().resolve("recipe.json"), plan.layers(), plan.windows(),
                "hybrid planned by t2r plan (" + plan.spelling() + ")");
        RecipeRewrite.writeWithLayers(recipe, o.out().resolve("recipe-naive.json"), plan.naive().attention(), new TreeMap<>(),
                "naive hybrid: the first and last layers (" + plan.naive().attention() + "), the planner's budget");
        AtomicFiles.writeString(o.out().resolve("plan.json"), plan.toJson().toPrettyString() + "\n");
        AtomicFiles.writeString(o.out().resolve("plan.md"), plan.markdown());
    }

    /** The measurements of one plan: probes, the trained and converted students, the device's models. */
    static final class Measurer {
        final Recipe recipe;
        final ConvertOptions conversion;
        final LlamaConfig teacher;
        final Path atDir, work;
        final Options options;
        final Device device;
        final TrainingListener listener;
        final GsaModel trained, converted;
        final List<RecallProbes.Probe> probes;

        Measurer(Recipe recipe, Recipe.Convert convert, LlamaConfig teacher, Path atDir, Options options, Plugins plugins,
                 TrainingListener listener) {
            this.recipe = recipe;
            this.conversion = GsaStudentConverter.options(convert.options()).withKeepAttention(List.of());
            this.teacher = teacher;
            this.atDir = atDir;
            this.work = options.out().resolve("candidates");
            this.options = options;
            this.device = plugins.device(options.device() != null ? options.device() : recipe.device());
            this.listener = listener;
            this.trained = GsaModel.load(atDir.resolve("final"));
            this.converted = GsaModel.load(atDir.resolve("student-init"));
            this.probes = probes(recipe, atDir, options.probesPerKind());
        }

        /** Probes of the recipe's synthetic kinds, its stages' included (kv-recall, needles and repeats when it has none), haystacks from validation text. */
        static List<RecallProbes.Probe> probes(Recipe recipe, Path atDir, int perKind) {
            List<SyntheticKind> kinds = recipe.everySynthetic().stream().map(SyntheticSpec::kind).filter(k -> !k.name().equals("variables"))
                    .distinct().toList();
            if (kinds.isEmpty()) kinds = List.of(KeyValueLists.DEFAULTS, Needles.DEFAULTS, RepeatedSpans.DEFAULTS);
            Path dataDir = switch (recipe.data()) {
                case Recipe.PreparedData(Path dir) -> dir;
                case Recipe.RawData raw -> atDir.resolve("data");            // the short run tokenized it there
            };
            try (Tokenizer tokenizer = Tokenizer.load(recipe.teacher()); PreparedDataset data = PreparedDataset.open(dataDir)) {
                PreparedDataset.Split corpus = data.validation().tokens() > 4L * recipe.seqLen() ? data.validation() : data.train();
                return RecallProbes.make(SyntheticContext.of(tokenizer, corpus), kinds, perKind, recipe.seqLen(), PROBE_SEED);
            }
        }

        static final long PROBE_SEED = 0x50524F4245L;               // "PROBE": not the recipe's seed, so no training window

        Plan plan(int budget, AttentionPatterns patterns) {
            long t0 = System.nanoTime();
            List<Integer> all = new ArrayList<>();                 // every layer
            for (int l = 0; l < teacher.numHiddenLayers(); l++) all.add(l);
            RecallProbes.Score teacherScore = scoreTeacher();
            Candidate allGsa = measure("all GSA", List.of(), new TreeMap<>());
            List<Candidate> restoreOne = new ArrayList<>(), linearizeOne = new ArrayList<>();
            for (int l : all) restoreOne.add(measure("layer " + l + " attention", List.of(l), new TreeMap<>()));
            for (int l : all) {
                List<Integer> rest = new ArrayList<>(all);
                rest.remove(Integer.valueOf(l));
                linearizeOne.add(measure("teacher, layer " + l + " GSA", rest, new TreeMap<>()));
            }
            // Backward elimination from the teacher's side: the configurations measured keep most layers as attention,
            // where each attention-transferred GSA layer sees the inputs it was trained on. Only when the sets of
            // budget layers are too many to measure each: otherwise every set is measured, elimination's end among them.
            boolean everySetFits = binomial(all.size(), budget) <= MAX_EVERY_SET;
            List<List<Candidate>> steps = new ArrayList<>();
            steps.add(linearizeOne);
            Candidate kept = best(linearizeOne);
            if (!everySetFits) kept = eliminate(kept, budget, (name, rest) -> measure(name, rest, new TreeMap<>()), steps);
            List<Candidate> everySet = new ArrayList<>();
            if (everySetFits) {
                for (List<Integer> set : subsets(all, budget)) everySet.add(measure("keep " + set, set, new TreeMap<>()));
                kept = best(everySet);
            }
            Candidate probesChoice = kept;
            List<Integer> circuit = patterns.circuit(budget);
            if (!circuit.isEmpty()) {
                List<Integer> set = withCircuit(circuit, budget, everySet, probesChoice);
                kept = everySet.stream().filter(c -> c.attention().equals(set)).findFirst()
                        .orElseGet(() -> measure("attention circuit " + set, set, new TreeMap<>()));
            }
            List<Integer> layers = kept.attention();
            Candidate full = kept;
            List<Candidate> windowTrials = new ArrayList<>();
            TreeMap<Integer, Integer> windows = chooseWindows(layers, options.windows(), recipe.seqLen(), options.windowTolerance(), full,
                    trial -> measure("window " + trial, layers, trial), windowTrials);
            Candidate plan = windows.isEmpty() ? full : measure("plan", layers, windows);
            List<Integer> naiveLayers = naive(teacher.numHiddenLayers(), budget);
            Candidate naive = measure("naive (first and last)", naiveLayers, new TreeMap<>());
            Plan.AtLosses at = Plan.AtLosses.read(atDir.resolve("metrics.jsonl"));
            return new Plan(recipe.file(), budget, options.atTokens(), device.name(), probes.size(),
                    probes.stream().mapToLong(p -> p.ids().length).sum(), at, patterns, circuit, teacherScore, allGsa, restoreOne, linearizeOne,
                    steps, everySet, probesChoice, windowTrials, plan, naive, (System.nanoTime() - t0) / 1e9);
        }

        /**
         * The circuit's layers and, to fill the budget, the probes' choice: the best measured set that holds the
         * circuit, or else the probes' own layers in their order.
         */
        static List<Integer> withCircuit(List<Integer> circuit, int budget, List<Candidate> everySet, Candidate probesChoice) {
            if (circuit.size() >= budget) return circuit;
            List<Candidate> holding = everySet.stream().filter(c -> c.attention().containsAll(circuit)).toList();
            if (!holding.isEmpty()) return best(holding).attention();
            TreeSet<Integer> set = new TreeSet<>(circuit);
            for (int l : probesChoice.attention()) if (set.size() < budget) set.add(l);
            return List.copyOf(set);
        }

        /**
         * Backward elimination from {@code start}: linearize each of its attention layers in turn, keep the
         * candidate that scores best, repeat until {@code budget} layers are left; each step's candidates are
         * added to {@code steps}.
         */
        static Candidate eliminate(Candidate start, int budget, java.util.function.BiFunction<String, List<Integer>, Candidate> measure,
                                   List<List<Candidate>> steps) {
            Candidate kept = start;
            while (kept.attention().size() > budget) {
                List<Candidate> step = new ArrayList<>();
                for (int l : kept.attention()) {
                    List<Integer> rest = new ArrayList<>(kept.attention());
                    rest.remove(Integer.valueOf(l));
                    step.add(measure.apply("linearize " + l + " of " + kept.attention(), rest));
                }
                steps.add(step);
                kept = best(step);
            }
            return kept;
        }

        /**
         * The most sets of kept layers measured one by one: below it every set of {@code budget} layers is scored
         * (28 for 2 of 8 layers, about what backward elimination costs there) and the best taken, since greedy
         * elimination can drop a layer that only matters together with another; above it elimination decides.
         */
        static final int MAX_EVERY_SET = 64;

        static long binomial(int n, int k) {
            long c = 1;
            for (int i = 1; i <= k; i++) {
                c = c * (n - k + i) / i;
                if (c > Integer.MAX_VALUE) return c;
            }
            return c;
        }

        /** Every k-element subset of {@code items}, each in ascending order, in lexicographic order. */
        static List<List<Integer>> subsets(List<Integer> items, int k) {
            List<List<Integer>> out = new ArrayList<>();
            collect(items, k, 0, new ArrayList<>(), out);
            return out;
        }

        private static void collect(List<Integer> items, int k, int from, List<Integer> prefix, List<List<Integer>> out) {
            if (prefix.size() == k) {
                out.add(List.copyOf(prefix));
                return;
            }
            for (int i = from; i <= items.size() - (k - prefix.size()); i++) {
                prefix.add(items.get(i));
                collect(items, k, i + 1, prefix, out);
                prefix.removeLast();
            }
        }

        /**
         * For each chosen layer (in order), the smallest window that, with the windows already taken, stays within
         * tolerance of the plan with full attention (and answers no fewer probes exactly). Always measured against
         * full attention, never against the last accepted trial: each trial may cost up to the tolerance, and
         * against the last one those costs would add up. No window when the plan with full attention answers no
         * probe exactly: a window that loses retrieval then costs no answer and little log-probability, since
         * there is no retrieval yet to lose, so the probes cannot tell it from one that keeps it.
         */
        static TreeMap<Integer, Integer> chooseWindows(List<Integer> layers, List<Integer> sizes, int seqLen, double tolerance,
                                                       Candidate full, Function<TreeMap<Integer, Integer>, Candidate> measure,
                                                       List<Candidate> trials) {
            TreeMap<Integer, Integer> windows = new TreeMap<>();
            if (full.score().exact() <= 0) return windows;
            for (int l : layers) {
                for (int w : sizes) {
                    if (w >= seqLen) continue;                           // no shorter than the sequences: nothing to gain
                    TreeMap<Integer, Integer> trial = new TreeMap<>(windows);
                    trial.put(l, w);
                    Candidate c = measure.apply(trial);
                    trials.add(c);
                    if (c.score().logProb() >= full.score().logProb() - tolerance && c.score().exact() >= full.score().exact() - 1e-9) {
                        windows = trial;
                        break;
                    }
                }
            }
            return windows;
        }

        /** The first and last layers, then the next ones inward, as many as the budget. */
        static List<Integer> naive(int layers, int budget) {
            TreeSet<Integer> out = new TreeSet<>();
            for (int i = 0; out.size() < budget; i++) {
                out.add(i);
                if (out.size() < budget) out.add(layers - 1 - i);
            }
            return List.copyOf(out);
        }

        /** The candidate with the highest probe log-probability (ties: the first). */
        static Candidate best(List<Candidate> cs) {
            Candidate b = cs.getFirst();
            for (Candidate c : cs) if (c.score().logProb() > b.score().logProb()) b = c;
            return b;
        }

        RecallProbes.Score scoreTeacher() {
            listener.note("plan: probing the teacher");
            try (LanguageModel m = device.load(ModelDirectory.open(recipe.teacher()), device.defaultPrecision(), 0)) {
                return RecallProbes.score(m, probes);
            }
        }

        Candidate measure(String name, List<Integer> attention, TreeMap<Integer, Integer> windows) {
            GsaModel hybrid = attention.isEmpty() ? trained : Hybrids.restore(trained, converted, teacher, conversion, attention, windows);
            Path dir = work.resolve("candidate");
            try {
                deleteTree(dir);
                Files.createDirectories(work);
                hybrid.save(dir, DType.F32, true);
                RecallProbes.Score s;
                try (LanguageModel m = device.load(ModelDirectory.open(dir), device.defaultPrecision(), 0)) {
                    s = RecallProbes.score(m, probes);
                }
                deleteTree(dir);
                listener.note(String.format(Locale.ROOT, "plan: %-24s probes: %.3f nats/token, %.0f%% exact", name, s.logProb(), 100 * s.exact()));
                return new Candidate(name, attention, windows, s);
            } catch (IOException e) {
                throw new T2rException(dir + ": cannot write a candidate (" + e.getMessage() + ")", e);
            }
        }
    }

    /** Writes the recipe variants the planner needs, with absolute paths (they live elsewhere than the recipe). */
    static final class RecipeRewrite {
        private RecipeRewrite() {}

        /**
         * The recipe's first attention-transfer stage alone, cut to {@code tokens}, on the all-GSA student, on
         * {@code device} when given (in that device's default precision); returns the file.
         */
        static Path writeAttentionTransfer(Recipe r, Path file, long tokens, String device) {
            ObjectNode tree = absolute(r);
            if (device != null && !device.equals(r.device())) {
                tree.put("device", device);
                tree.remove("precision");
            }
            ((ObjectNode) tree.get("student")).putArray("keep_attention");
            ObjectNode stage = null;
            for (JsonNode s : tree.path("stages")) {
                if ("attention-transfer".equals(s.path("type").asText())) {
                    stage = ((ObjectNode) s).deepCopy();
                    break;
                }
            }
            if (stage == null) {
                stage = JSON.createObjectNode().put("name", "attention-transfer").put("type", "attention-transfer").put("lr", 1e-3)
                        .put("trainable", "attention");
            }
            long steps = Math.max(1, (tokens + r.tokensPerStep() - 1) / r.tokensPerStep());
            stage.remove(List.of("steps", "tokens", "warmup_fraction", "eval_interval"));
            stage.put("steps", steps);
            stage.put("warmup_steps", Math.min(stage.path("warmup_steps").asLong(0), steps / 4));
            tree.putArray("stages").add(stage);
            tree.put("checkpoint_interval", 0);
            tree.put("description", "t2r plan: attention transfer of the all-GSA student of " + r.file() + " (" + steps + " steps)");
            return write(r, file, tree);
        }

        /** The recipe with {@code layers} kept as attention ({@code windows} for some). */
        static Path writeWithLayers(Recipe r, Path file, List<Integer> layers, SortedMap<Integer, Integer> windows, String what) {
            ObjectNode tree = absolute(r);
            ArrayNode keep = ((ObjectNode) tree.get("student")).putArray("keep_attention");
            for (int l : layers) {
                if (windows.containsKey(l)) keep.add(l + ":" + windows.get(l));
                else keep.add(l);
            }
            tree.put("description", tree.path("description").asText("") + " [" + what + "]");
            return write(r, file, tree);
        }

        private static Path write(Recipe r, Path file, ObjectNode tree) {
            String text = tree.toPrettyString() + "\n";
            RecipeReader.parse(file, text);                               // what it writes, it can read
            AtomicFiles.writeString(file, text);
            return file;
        }

        /** The recipe file's JSON with the teacher and data paths made absolute (a conversion-options student). */
        static ObjectNode absolute(Recipe r) {
            ObjectNode tree;
            try {
                tree = (ObjectNode) JSON.readTree(Files.readString(r.file()));
            } catch (IOException e) {
                throw new T2rException(r.file() + ": cannot read (" + e.getMessage() + ")", e);
            }
            tree.remove("$schema");
            tree.put("teacher", r.teacher().toString());
            if (!tree.path("student").isObject()) tree.putObject("student");
            ObjectNode data = (ObjectNode) tree.get("data");
            switch (r.data()) {
                case Recipe.PreparedData(Path dir) -> data.put("prepared", dir.toString());
                case Recipe.RawData raw -> {
                    ArrayNode train = data.putArray("train");
                    raw.train().forEach(p -> train.add(p.toString()));
                    if (!raw.validation().isEmpty()) {
                        ArrayNode validation = data.putArray("validation");
                        raw.validation().forEach(p -> validation.add(p.toString()));
                    }
                }
            }
            return tree;
        }
    }
}
