package gsat2r.finetune;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.training.MemoryPlan;
import gsat2r.training.Device;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.data.DataPreparer;
import gsat2r.core.data.PackedSequences;
import gsat2r.core.data.PreparedDataset;
import gsat2r.core.data.SequenceOrder;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.data.TrainingStream;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.training.BackendOutOfMemoryException;
import gsat2r.training.BackendRequest;
import gsat2r.training.LossSums;
import gsat2r.training.LossWeightShares;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.finetune.student.StudentConverter;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.TrainingBackend;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.core.tokenizer.TokenizerFiles;
import gsat2r.finetune.distributed.DataSplit;
import gsat2r.finetune.distributed.LossSumsCodec;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.finetune.optim.GradientClipping;
import gsat2r.finetune.recipe.Recipe;
import gsat2r.finetune.recipe.RecipeOverrides;
import gsat2r.finetune.recipe.RecipeReader;
import gsat2r.finetune.recipe.Stage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SequencedMap;

/**
 * Runs a recipe ({@code t2r finetune}): converts the student and tokenizes the data when the recipe
 * asks for it, then trains the stages in order on a {@link TrainingBackend}, writing metrics,
 * checkpoints and finally the student.
 *
 * <p>One optimizer step of a stage: the next {@code batch} training sequences (the corpus in the seeded
 * order of {@link SequenceOrder}, with the recipe's synthetic documents mixed in: {@link TrainingStream}) are cut into {@code grad_accum} micro-batches of {@code micro_batch}; each runs
 * forward and backward with gradient scale {@code 1 / (batch · seq_len)}, so the accumulated gradient
 * is that of the step's mean loss; the global gradient norm is checked (a NaN or infinite loss or norm
 * stops the run before the update, naming stage and step, with the last good checkpoint intact), the
 * gradients are clipped to {@code grad_clip} and AdamW is applied at the step's learning rate (warmup
 * then cosine, {@link gsat2r.finetune.optim.WarmupCosine}). A stage with {@code lora:R} merges its
 * adapters when it ends. Each stage starts with fresh AdamW moments for its trainable set.
 *
 * <p>Exact resume: a checkpoint holds the backend state (weights, adapters, moments), the data
 * position (sequences consumed), the stage and step, and metrics.jsonl as it was. Everything else is
 * recomputed from the recipe, so a resumed run takes the same steps on the same data with the same
 * arithmetic as an uninterrupted one, and ends with the same bits (metrics.jsonl differs only in its
 * {@code elapsed_s} values).
 *
 * <p>Every run is a {@link ProcessGroup}: one process is a group of one, data parallelism
 * (docs/distributed.md) a group of N ranks, each running this trainer on its own backend. Rank 0 alone writes the run directory
 * (run.json, the converted student, the tokenized data, metrics, checkpoints, the final student); the
 * others wait for it and read them. Each rank reads its part of each step's sequences
 * ({@link DataSplit}: N ranks with micro-batch b see what one process with micro-batch N·b sees), the
 * backend sums the gradients across ranks and shards the optimizer, and the loss sums of all ranks are
 * combined in the order one process would add them. A checkpoint holds the whole state, so a run
 * resumes on any number of ranks. A failing rank aborts the group, so the others stop too.
 */
public final class Trainer {

    /**
     * {@code resume}: continue the run in {@code out}; {@code force}: replace an earlier run there;
     * {@code group}: the group this process is a rank of ({@link ProcessGroup#single()} for one process);
     * {@code deviceIndex}: which GPU this process uses (its LOCAL_RANK), passed to the backend;
     * {@code overrides}: changes to the recipe from the command line ({@code --set}).
     */
    public record Options(Path recipe, Path out, boolean resume, boolean force, ProcessGroup group, int deviceIndex,
                          RecipeOverrides overrides) {
        public Options {
            if (group == null) group = ProcessGroup.single();
            if (overrides == null) overrides = RecipeOverrides.NONE;
        }

        public Options(Path recipe, Path out, boolean resume, boolean force, ProcessGroup group, int deviceIndex) {
            this(recipe, out, resume, force, group, deviceIndex, RecipeOverrides.NONE);
        }

        public Options(Path recipe, Path out, boolean resume, boolean force) {
            this(recipe, out, resume, force, ProcessGroup.single(), 0);
        }
    }

    /** The finished run: where the student is, whether it was already finished, steps and tokens trained. */
    public record Result(Path finalDir, boolean alreadyFinished, long globalSteps, long tokens,
                         SequencedMap<String, Double> lastEvaluation) {}

    /** A checkpoint on disk: its directory and the global step it was written at. */
    public record Checkpoint(Path dir, long globalStep) {}

    /** The newest complete checkpoint of the run in {@code out}, the one {@code --resume} continues from. */
    public static java.util.Optional<Checkpoint> latestCheckpoint(Path out) {
        return new Checkpoints(out).latest().map(e -> new Checkpoint(e.dir(), e.globalStep()));
    }

    /** Purpose tag for the seeds of LoRA adapters, one per stage ({@link SplitMix64#derive}). */
    static final long LORA_SEED = 0x4C4F5241L;                  // "LORA"
    /** Tokens a weighted stage's note of where its loss weights fall looks at: 256 sequences of 1,024. */
    private static final long WEIGHT_SAMPLE_TOKENS = 262_144;

    private final Recipe recipe;
    private final RunDirectory run;
    private final TrainingBackend backend;
    private final PackedSequences train;
    private final TrainingStream stream;
    private final PackedSequences validation;
    private final long validationWindows;
    private final Checkpoints checkpoints;
    private final TrainingListener listener;
    /** The group of this run's processes (one, for a single process) and its split of each step's data. */
    private final ProcessGroup group;
    private final DataSplit split;
    private MetricsLog metrics;            // opened once metrics.jsonl is restored or started
    private final Path studentDir;
    private final long t0 = System.nanoTime();
    private double baseElapsed;
    /** Synthetic documents without answer marks that the notes of where loss weights fall wrote, not the training. */
    private long peekedUnmarked;
    private long processTokens;
    private TrainerState state;
    private SequencedMap<String, Double> lastEvaluation = new LinkedHashMap<>();

    private Trainer(Recipe recipe, RunDirectory run, TrainingBackend backend, PreparedDataset data, Tokenizer tokenizer, Path studentDir,
                    TrainingListener listener, ProcessGroup group, DataSplit split) {
        this.recipe = recipe;
        this.group = group;
        this.split = split;
        this.run = run;
        this.backend = backend;
        this.studentDir = studentDir;
        this.listener = listener;
        this.train = new PackedSequences(data.train(), recipe.seqLen()).requireNonEmpty(recipe.file() + ": data");
        this.stream = TrainingStreams.open(recipe, train, data, tokenizer, listener);
        this.validation = new PackedSequences(data.validation(), recipe.seqLen());
        long wanted = (recipe.evalTokens() + recipe.seqLen() - 1) / recipe.seqLen();
        this.validationWindows = Math.min(validation.count(), wanted);
        this.checkpoints = new Checkpoints(run.dir());
    }

    public static Result run(Options options, Plugins plugins, TrainingListener listener) {
        ProcessGroup group = options.group();
        try {
            return runProcess(options, plugins, listener, group);
        } catch (RuntimeException | Error e) {
            group.abort(e.getMessage() != null ? e.getMessage() : e.toString());
            throw e;
        }
    }

    /** One process's run, a rank of {@code group} (of one, alone). */
    private static Result runProcess(Options options, Plugins plugins, TrainingListener listener, ProcessGroup group) {
        Recipe recipe = RecipeReader.read(options.recipe(), options.overrides());
        RecipeReader.checkPaths(recipe);
        DataSplit split = DataSplit.of(recipe.batch(), recipe.microBatch(), group.worldSize(), recipe.file().toString());
        boolean lead = group.rank() == 0;
        if (!lead) listener = new TrainingListener() {};         // rank 0 reports for the group
        // Find the device and the converter, and check the memory, before anything is written.
        Device device = plugins.device(recipe.device());
        device.requirePrecision(recipe.precision());
        ModelDirectory teacher = ModelDirectory.open(recipe.teacher());
        StudentConverter converter = recipe.student() instanceof Recipe.Convert ? plugins.converterFor(teacher) : null;
        GsaConfig studentConfig = studentConfig(recipe, teacher, converter);
        planMemory(recipe, device, teacher, studentConfig, split, group, options.deviceIndex(), listener);
        RunDirectory run = null;
        boolean finished = false;
        if (lead) {
            if (options.resume()) {
                run = RunDirectory.resume(options.out(), recipe, listener::note);
                run.deleteLeftovers();
                new Checkpoints(run.dir()).deleteLeftovers();
                finished = Files.isDirectory(run.finalDir());
            } else {
                run = RunDirectory.create(options.out(), recipe, options.force());
            }
            if (!finished && group.worldSize() > 1) {
                // Everything the other ranks read: the converted student and the tokenized data.
                studentDir(recipe, run, converter, listener);
                dataset(recipe, run, listener).close();
            }
        }
        finished = group.broadcast(new byte[] {(byte) (finished ? 1 : 0)}, 0)[0] == 1;
        if (!lead) run = RunDirectory.at(options.out());
        if (finished) {
            listener.note("the run is already finished: " + run.finalDir());
            return new Result(run.finalDir(), true, recipe.totalSteps(), recipe.totalSteps() * recipe.tokensPerStep(),
                    new LinkedHashMap<>());
        }
        Path student = studentDir(recipe, run, converter, listener);
        try (PreparedDataset data = lead ? dataset(recipe, run, listener) : PreparedDataset.open(dataDir(recipe, run))) {
            checkTokenizer(recipe, student, data);
            listener.note("opening the " + device.name() + " backend in " + recipe.precision() + (group.worldSize() == 1 ? ""
                    : " on each of " + group.worldSize() + " ranks (micro-batch " + split.microBatch() + " per rank, " + split.gradAccum()
                    + " accumulated)"));
            ModelDirectory studentDir = ModelDirectory.open(student);
            try (TrainingBackend backend = plugins.devices().get(recipe.device(), studentDir).openTraining(new BackendRequest(
                    recipe.needsTeacher() ? teacher : null, studentDir, recipe.precision(), split.microBatch(), recipe.seqLen(), recipe.recompute(), group,
                    DataParallelOptions.defaults(), options.deviceIndex()))) {
                listener.note("training on " + backend.description());
                if (data.vocabSize() > backend.vocabSize()) {
                    throw new T2rException(data.dir() + ": tokens go up to " + (data.vocabSize() - 1) + ", but the student's vocabulary has "
                            + backend.vocabSize() + " entries");
                }
                try (Tokenizer tokenizer = recipe.everySynthetic().isEmpty() ? null : Tokenizer.load(recipe.teacher())) {
                    Trainer t = new Trainer(recipe, run, backend, data, tokenizer, student, listener, group, split);
                    try {
                        return t.train(options.resume());
                    } finally {
                        t.stream.close();
                        if (t.metrics != null) t.metrics.close();
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ setting up

    /**
     * Refuses, before any work, a recipe whose largest stage does not fit the device's free memory (when the
     * device plans its memory), naming what needs how much and what to change.
     */
    private static void planMemory(Recipe recipe, Device device, ModelDirectory teacher, GsaConfig student, DataSplit split,
                                   ProcessGroup group, int deviceIndex, TrainingListener listener) {
        if (!device.plansMemory() || student == null) return;
        List<MemoryPlan.StageLoad> stages = recipe.stages().stream()
                .map(s -> new MemoryPlan.StageLoad(s.name(), s.objective(), s.trainable())).toList();
        MemoryPlan.Request request = new MemoryPlan.Request(recipe.needsTeacher() ? teacher.teacherConfig() : null, student, recipe.precision(),
                split.microBatch(), recipe.seqLen(), recipe.recompute(), stages, group.worldSize(), deviceIndex);
        device.plan(request).ifPresent(plan -> {
            if (!plan.fits()) throw new T2rException(recipe.file() + ": " + plan.refusal());
            MemoryPlan.Stage s = plan.largest();
            listener.note("memory plan: stage '" + s.name() + "' needs the most: " + s.describe() + " (" + MemoryPlan.gib(plan.freeBytes())
                    + " free on " + plan.device() + ")");
        });
    }

    /**
     * The student's config: the student directory's, or the conversion's, which checks the recipe's student settings
     * against the teacher (its layers, its heads) before anything is written.
     */
    private static GsaConfig studentConfig(Recipe recipe, ModelDirectory teacher, StudentConverter converter) {
        return switch (recipe.student()) {
            case Recipe.StudentDir(Path dir) -> ModelDirectory.open(dir).studentConfig();
            case Recipe.Convert(var options) -> {
                try {
                    yield converter.studentConfig(teacher, options);
                } catch (T2rException e) {
                    throw new T2rException(recipe.file() + ": " + e.getMessage(), e);
                }
            }
        };
    }

    /** The student directory; converts the teacher into {@code OUT/student-init} first when the recipe asks and it is not there yet. */
    private static Path studentDir(Recipe recipe, RunDirectory run, StudentConverter converter, TrainingListener listener) {
        if (recipe.student() instanceof Recipe.StudentDir(Path dir)) return dir;
        Recipe.Convert convert = (Recipe.Convert) recipe.student();
        Path init = run.studentInit();
        if (Files.isDirectory(init)) return init;
        var o = convert.options();
        listener.note(String.format(Locale.ROOT, "converting %s into a GSA student (%d slots, gate normalizer %s, gate init %s, seed %d) in %s",
                recipe.teacher(), o.slots(), o.gateNormalizer(), o.gateInit(), o.seed(), init));
        try (AtomicDirectory out = AtomicDirectory.create(init)) {
            converter.convert(recipe.teacher(), o, out.path());
            return out.commit();
        }
    }

    /** Where the tokenized data is (a prepared directory, or OUT/data for raw files). */
    private static Path dataDir(Recipe recipe, RunDirectory run) {
        return switch (recipe.data()) {
            case Recipe.PreparedData(Path dir) -> dir;
            case Recipe.RawData raw -> run.data();
        };
    }

    private static PreparedDataset dataset(Recipe recipe, RunDirectory run, TrainingListener listener) {
        switch (recipe.data()) {
            case Recipe.PreparedData(Path dir) -> {
                return PreparedDataset.open(dir);
            }
            case Recipe.RawData raw -> {
                Path dir = run.data();
                if (!PreparedDataset.isPrepared(dir)) {
                    listener.note("tokenizing the data into " + dir);
                    DataPreparer.prepare(new DataPreparer.Request(recipe.teacher(), raw.train(), raw.validation(), raw.textField(),
                            raw.validationFraction(), DataPreparer.DEFAULT_SHARD_TOKENS, dir, false), listener::dataProgress);
                }
                return PreparedDataset.open(dir);
            }
        }
    }

    /** The data, the teacher and the student must all use the same tokenizer (compared by SHA-256 of tokenizer.json). */
    private static void checkTokenizer(Recipe recipe, Path student, PreparedDataset data) {
        String teacher = PreparedDataset.tokenizerHash(recipe.teacher());
        if (!teacher.equals(data.tokenizerHash())) {
            throw new T2rException(data.dir() + ": was tokenized with another tokenizer (sha256 " + data.tokenizerHash().substring(0, 12)
                    + "…) than the teacher's " + recipe.teacher().resolve("tokenizer.json") + " (" + teacher.substring(0, 12)
                    + "…); prepare it again with --tokenizer " + recipe.teacher());
        }
        if (Files.isRegularFile(student.resolve("tokenizer.json")) && !PreparedDataset.tokenizerHash(student).equals(teacher)) {
            throw new T2rException(student.resolve("tokenizer.json") + ": differs from the teacher's tokenizer.json");
        }
    }

    // ------------------------------------------------------------------ the loop

    private boolean lead() {
        return group.rank() == 0;
    }

    /** The checkpoint to resume from: rank 0 chooses the newest, and tells the other ranks. */
    private Optional<Checkpoints.Entry> resumePoint(boolean resume) {
        Optional<Checkpoints.Entry> latest = resume && lead() ? checkpoints.latest() : Optional.empty();
        if (group.worldSize() == 1) return latest;
        String step = new String(group.broadcast(Long.toString(latest.map(Checkpoints.Entry::globalStep).orElse(-1L))
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0), java.nio.charset.StandardCharsets.US_ASCII);
        long global = Long.parseLong(step);
        return global < 0 ? Optional.empty() : Optional.of(new Checkpoints.Entry(checkpoints.dir().resolve(Checkpoints.name(global)), global));
    }

    private Result train(boolean resume) {
        Optional<Checkpoints.Entry> from = resumePoint(resume);
        Path restore = null;
        if (from.isPresent()) {
            Checkpoints.Entry e = from.get();
            state = TrainerState.fromJson(Checkpoints.readTrainer(e), e.dir().resolve(Checkpoints.TRAINER));
            checkState(e);
            if (lead()) {
                try {
                    AtomicFiles.write(run.metrics(), Files.readAllBytes(e.dir().resolve(Checkpoints.METRICS)));
                } catch (IOException ex) {
                    throw new T2rException(e.dir().resolve(Checkpoints.METRICS) + ": cannot read (" + ex.getMessage() + ")", ex);
                }
            }
            restore = e.dir().resolve(Checkpoints.STATE);
            listener.note("resuming from " + e.dir() + " (stage " + (state.stage() + 1) + ", global step " + state.globalStep() + ")");
        } else {
            state = TrainerState.start();
            if (resume) listener.note("no checkpoint yet in " + checkpoints.dir() + "; starting from the beginning");
            if (lead()) AtomicFiles.write(run.metrics(), new byte[0]);
        }
        if (lead()) metrics = new MetricsLog(run.metrics());
        baseElapsed = state.elapsedSeconds();
        if (validationWindows == 0 && recipe.evalTokens() > 0) {
            listener.note("the validation split has no sequence of " + (recipe.seqLen() + 1) + " tokens; evaluation is skipped");
        }

        List<Stage> stages = recipe.stages();
        for (int si = state.stage(); si < stages.size(); si++) {
            Stage stage = stages.get(si);
            List<ParameterInfo> trainable = backend.setTrainable(stage.trainable(), SplitMix64.derive(recipe.seed(), LORA_SEED, si));
            if (restore != null) {
                try (SafeTensors s = SafeTensors.open(restore)) {
                    backend.readState(s);
                }
                restore = null;
            }
            long count = trainable.stream().mapToLong(ParameterInfo::numel).sum();
            listener.note(String.format(Locale.ROOT, "stage %d/%d '%s' (%s): %d steps, trainable %s (%,d parameters)",
                    si + 1, stages.size(), stage.name(), stage.objective().type(), stage.steps(), stage.trainable().spelling(), count));
            if (lead() && stage.objective() instanceof Objective.Distill d && (d.recallWeight() != 1 || d.needsAnswers())
                    && state.stageStep() < stage.steps()) {
                listener.note("stage '" + stage.name() + "', its next " + weightSample(stage) + " sequences: " + weightShares(d, stage).describe());
            }
            for (long n = state.stageStep() + 1; n <= stage.steps(); n++) step(stage, n);
            if (stage.objective() instanceof Objective.Distill d && d.needsAnswers() && stream.unmarked() > peekedUnmarked) {
                listener.note("stage '" + stage.name() + "': its answer weights found no answer tokens in " + (stream.unmarked() - peekedUnmarked)
                        + " synthetic documents so far (their tokens do not spell their text: a normalizing tokenizer?); they count once");
            }
            if (stage.trainable() instanceof TrainableSet.Lora lora) {
                if (lead()) PeftAdapter.write(run.adapter(stage), backend.loraFactors(), lora, stage.name());
                backend.mergeLora();
            }
            state = state.nextStage();
        }
        Path done = lead() ? writeFinal() : run.finalDir();
        group.barrier();             // every rank reports success only once the student is written
        return new Result(done, false, state.globalStep(), state.tokens(), lastEvaluation);
    }

    private void checkState(Checkpoints.Entry e) {
        boolean ok = state.stage() >= 0 && state.stage() <= recipe.stages().size()
                && (state.stage() == recipe.stages().size() || state.stageStep() <= recipe.stages().get(state.stage()).steps())
                && state.sequences() == state.globalStep() * recipe.batch();
        if (!ok) throw new T2rException(e.dir().resolve(Checkpoints.TRAINER) + ": does not fit the recipe (stage " + state.stage()
                + ", step " + state.stageStep() + ", " + state.sequences() + " sequences)");
    }

    private void step(Stage stage, long n) {
        int micro = recipe.microBatch();
        long positions = recipe.tokensPerStep();
        try {
            List<LossSums> mine = new ArrayList<>();
            for (int j = 0; j < split.gradAccum(); j++) {
                TokenBatch batch = trainBatch(split.firstSequence(state.sequences(), j, group.rank()), split.microBatch(),
                        stage.objective() instanceof Objective.Distill d && d.needsAnswers());
                mine.add(backend.forwardBackward(stage.objective(), batch, 1.0 / positions, j == split.gradAccum() - 1));
            }
            LossSums sums = combine(mine);
            double loss = sums.loss() / positions;
            double norm = backend.gradientNorm();
            if (!Double.isFinite(loss) || !Double.isFinite(norm)) throw nonFinite(stage, n, loss, norm);
            double clip = GradientClipping.factor(norm, stage.gradClip());
            double lr = stage.schedule().lr(n);
            backend.optimizerStep(stage.adamW(n, clip));
            state = state.afterStep(recipe.batch(), recipe.seqLen(), elapsed());
            processTokens += positions;
            logStep(stage, n, sums, lr, norm);
            if (stage.evaluatesAt(n) && validationWindows > 0) evaluate(stage, n);
            if (recipe.checkpointInterval() > 0 && state.globalStep() % recipe.checkpointInterval() == 0) checkpoint(stage);
        } catch (BackendOutOfMemoryException e) {
            throw new T2rException(where(stage, n) + ": " + e.getMessage() + "; a micro-batch is " + micro + " x " + recipe.seqLen()
                    + " tokens: lower micro_batch (" + (group.worldSize() == 1 ? "raise grad_accum" : "more are accumulated") + " to keep batch "
                    + recipe.batch() + ") or seq_len"
                    + (recipe.recompute() ? "" : ", or set \"recompute\": true to keep fewer activations"), e);
        } catch (OutOfMemoryError e) {
            throw new T2rException(where(stage, n) + ": out of Java heap memory (the limit is "
                    + BackendOutOfMemoryException.gib(Runtime.getRuntime().maxMemory()) + "); lower micro_batch (now " + micro
                    + "; raise grad_accum to keep batch " + recipe.batch() + ") or seq_len, or give Java more memory with"
                    + " T2R_JAVA_OPTS=-Xmx<size>", e);
        }
    }

    private String where(Stage stage, long n) {
        return recipe.file() + ": stage '" + stage.name() + "' (" + (stage.index() + 1) + " of " + recipe.stages().size()
                + "), step " + n + " of " + stage.steps() + " (global step " + (state.globalStep() + 1) + ")";
    }

    private T2rException nonFinite(Stage stage, long n, double loss, double norm) {
        String what = !Double.isFinite(loss) ? "the loss is " + loss : "the gradient norm is " + norm;
        ObjectNode line = Json.COMPACT.createObjectNode();
        line.put("type", "error");
        line.put("stage", stage.name());
        line.put("stage_index", stage.index());
        line.put("step", n);
        line.put("global_step", state.globalStep() + 1);
        line.put("message", what);
        line.put("elapsed_s", elapsed());
        if (metrics != null) metrics.append(line);
        String lrField = "stages[" + stage.index() + "].lr";
        String advice = checkpoints.latest()
                .map(e -> "the last good checkpoint is " + e.dir() + " (global step " + e.globalStep() + "): lower " + lrField
                        + " (now " + stage.lr() + ") or lengthen its warmup, then continue with --resume")
                .orElse("no checkpoint was written yet: lower " + lrField + " (now " + stage.lr() + ") or lengthen its warmup and start again");
        return new T2rException(where(stage, n) + ": " + what + "; stopped without applying this update; " + advice);
    }

    /** How many of a weighted stage's next sequences the note of where its loss weights fall looks at. */
    private int weightSample(Stage stage) {
        long rows = Math.max(1, WEIGHT_SAMPLE_TOKENS / recipe.seqLen());
        return (int) Math.min(rows, (stage.steps() - state.stageStep()) * recipe.batch());
    }

    /** Where a weighted stage's loss weights fall in its next sequences (looked at without disturbing the stream's writing ahead). */
    private LossWeightShares weightShares(Objective.Distill d, Stage stage) {
        long before = stream.unmarked();
        TokenBatch sample = batch(state.sequences(), weightSample(stage), d.needsAnswers(), true);
        peekedUnmarked += stream.unmarked() - before;          // documents the look counted, not the training
        return LossWeightShares.of(d, sample);
    }

    /** Micro-batch of {@code rows} training sequences, the k-th, (k+1)-th, ... of the run's order, with their answer marks if asked. */
    private TokenBatch trainBatch(long firstSequence, int rows, boolean answers) {
        return batch(firstSequence, rows, answers, false);
    }

    /** Sequences {@code first ..} as a batch: taken from the stream as training does, or only looked at ({@code peek}). */
    private TokenBatch batch(long first, int rows, boolean answers, boolean peek) {
        int T = recipe.seqLen();
        int[] tokens = new int[rows * (T + 1)];
        byte[] marks = answers ? new byte[tokens.length] : null;
        if (peek) stream.peek(first, rows, tokens, marks);
        else stream.sequences(first, rows, tokens, marks);
        return new TokenBatch(rows, T, tokens, marks);
    }

    private double elapsed() {
        return baseElapsed + (System.nanoTime() - t0) / 1e9;
    }

    /**
     * The step's loss sums over all ranks: every rank's micro-batch sums, added in the order one process
     * with micro-batch b would add them (micro-step by micro-step, rank by rank); alone, in order.
     */
    private LossSums combine(List<LossSums> mine) {
        if (group.worldSize() == 1) {
            LossSums total = null;
            for (LossSums s : mine) if (s != null) total = total == null ? s : total.plus(s);
            return total;
        }
        List<List<LossSums>> all = LossSumsCodec.decodeAll(group.allGather(LossSumsCodec.encode(mine)));
        LossSums total = null;
        int longest = all.stream().mapToInt(List::size).max().orElse(0);
        for (int j = 0; j < longest; j++) {
            for (List<LossSums> rank : all) {
                if (j < rank.size() && rank.get(j) != null) total = total == null ? rank.get(j) : total.plus(rank.get(j));
            }
        }
        return total;
    }

    private void logStep(Stage stage, long n, LossSums sums, double lr, double norm) {
        long positions = sums.positions();
        SequencedMap<String, Double> terms = new LinkedHashMap<>();
        sums.sums().forEach((k, v) -> terms.put(k, v / positions));
        ObjectNode line = Json.COMPACT.createObjectNode();
        line.put("type", "step");
        line.put("stage", stage.name());
        line.put("stage_index", stage.index());
        line.put("step", n);
        line.put("global_step", state.globalStep());
        terms.forEach(line::put);
        line.put("lr", lr);
        line.put("grad_norm", norm);
        line.put("tokens", state.tokens());
        line.put("elapsed_s", state.elapsedSeconds());
        if (metrics != null) metrics.append(line);

        double seconds = (System.nanoTime() - t0) / 1e9;
        double rate = seconds > 0 ? processTokens / seconds : 0;
        long remainingSteps = recipe.totalSteps() - state.globalStep();
        double eta = rate > 0 ? remainingSteps * recipe.tokensPerStep() / rate : Double.NaN;
        listener.step(new TrainingListener.StepReport(stage.name(), stage.index(), recipe.stages().size(), n, stage.steps(),
                state.globalStep(), recipe.totalSteps(), terms.get("loss"), terms, lr, norm, state.tokens(), rate, eta));
    }

    private void evaluate(Stage stage, long n) {
        int micro = recipe.microBatch(), T = recipe.seqLen();
        // Group g of N·b windows: rank r evaluates its b of them; the sums are added group by group, rank by rank.
        List<LossSums> mine = new ArrayList<>();
        for (long g = 0; g < split.evalGroups(validationWindows); g++) {
            long[] w = split.evalWindows(validationWindows, g, group.rank());
            mine.add(w[0] < w[1] ? evaluateWindows(stage, w[0], w[1]) : null);
        }
        LossSums sums = combine(mine);
        SequencedMap<String, Double> values = new LinkedHashMap<>();
        for (Map.Entry<String, Double> e : sums.sums().entrySet()) values.put("val_" + e.getKey(), e.getValue() / sums.positions());
        if (metrics == null) {                  // a data-parallel rank other than 0: rank 0 writes the line
            lastEvaluation = values;
            return;
        }
        if (values.containsKey("val_ce")) values.put("val_ppl", Math.exp(values.get("val_ce")));
        ObjectNode line = Json.COMPACT.createObjectNode();
        line.put("type", "eval");
        line.put("stage", stage.name());
        line.put("stage_index", stage.index());
        line.put("step", n);
        line.put("global_step", state.globalStep());
        values.forEach(line::put);
        line.put("positions", sums.positions());
        line.put("elapsed_s", elapsed());
        metrics.append(line);
        lastEvaluation = values;
        listener.evaluation(new TrainingListener.EvalReport(stage.name(), stage.index(), n, values));
    }

    /** The loss sums of validation windows {@code [from, to)}, one batch. */
    private LossSums evaluateWindows(Stage stage, long from, long to) {
        int T = recipe.seqLen(), rows = (int) (to - from);
        int[] tokens = new int[rows * (T + 1)];
        for (int r = 0; r < rows; r++) validation.window(from + r, tokens, r * (T + 1));
        return backend.evaluate(stage.objective(), new TokenBatch(rows, T, tokens));
    }

    private void checkpoint(Stage stage) {
        if (!lead()) {                          // the others take part in gathering the optimizer state; rank 0 writes
            backend.writeState(null);
            state = state.withElapsed(elapsed());
            return;
        }
        metrics.force();
        byte[] lines;
        try {
            lines = Files.readAllBytes(run.metrics());
        } catch (IOException e) {
            throw new T2rException(run.metrics() + ": cannot read (" + e.getMessage() + ")", e);
        }
        state = state.withElapsed(elapsed());
        ObjectNode json = state.toJson(stage.name(), recipe.seed(), train.count(), lines.length);
        Map<String, String> metadata = new LinkedHashMap<>(backend.stateMetadata());
        metadata.putAll(Map.of("format", "pt", "content", "gsa-t2r training state", "global_step", Long.toString(state.globalStep())));
        Path dir = checkpoints.write(backend, json, lines, state.globalStep(), recipe.keepCheckpoints(), metadata);
        listener.checkpoint(dir, state.globalStep());
    }

    private Path writeFinal() {
        Path target = run.finalDir();
        try (AtomicDirectory out = AtomicDirectory.create(target)) {
            backend.saveStudent(out.path(), recipe.outputDtype());
            TokenizerFiles.copy(out.path(), studentDir, recipe.teacher());
            run.copyAdapters(out.path());
            ObjectNode summary = Json.COMPACT.createObjectNode();
            summary.put("format", "gsa-t2r training summary");
            summary.put("recipe_file", recipe.file().toAbsolutePath().normalize().toString());
            summary.put("global_steps", state.globalStep());
            summary.put("tokens", state.tokens());
            summary.put("elapsed_seconds", elapsed());
            ObjectNode eval = summary.putObject("last_evaluation");
            lastEvaluation.forEach(eval::put);
            summary.set("recipe", recipe.resolved());
            AtomicFiles.writeString(out.path().resolve("training.json"), Json.PRETTY.writeValueAsString(summary) + "\n");
            Path done = out.commit();
            listener.note("wrote the student to " + done);
            return done;
        } catch (IOException e) {
            throw new T2rException(target + ": cannot write (" + e.getMessage() + ")", e);
        }
    }
}
