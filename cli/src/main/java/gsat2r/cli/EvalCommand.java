package gsat2r.cli;

import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.InputFiles;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import gsat2r.core.data.TextInputs;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.eval.EvalModel;
import gsat2r.eval.EvalSettings;
import gsat2r.eval.Evaluator;
import gsat2r.eval.Progress;
import gsat2r.eval.TaskSpec;
import gsat2r.eval.WorkDir;
import gsat2r.eval.harness.HarnessEncoder;
import gsat2r.eval.harness.HarnessEval;
import gsat2r.eval.harness.HarnessRunner;
import gsat2r.eval.harness.HarnessTasks;
import gsat2r.eval.harness.TaskData;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code t2r eval}: compares a student with its teacher and writes a report directory
 * ({@code report.json}, {@code report.md}, PNG plots). See {@code docs/eval.md}.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Evaluate one model (--model) on lm-evaluation-harness tasks from local files, or compare a student with "
                + "its teacher: those tasks with a retention table, perplexity, KL and agreement on held-out text, associative "
                + "recall, passkey retrieval, multiple-choice tasks, decoding speed and memory.",
                "Writes report.json, report.md and PNG plots into --out (atomically). Finished tasks are kept in "
                        + ".<out>.partial/ beside it, so that re-running the same command after an interruption resumes."})
final class EvalCommand implements Callable<Integer> {

    static final int DEFAULT_CONTEXT = 2048;
    static final int CPU_SPEED_CONTEXT = 4096, GPU_SPEED_CONTEXT = 32768;

    @ParentCommand
    T2r t2r;

    @Option(names = "--model", paramLabel = "DIR", description = "One model alone (teacher or student), for lm-evaluation-harness tasks.")
    String model;

    @Option(names = "--teacher", paramLabel = "DIR", description = "Teacher model directory, or 'demo'.")
    String teacher;

    @Option(names = "--student", paramLabel = "DIR", description = "Student model directory, or 'demo'.")
    String student;

    @Option(names = "--task-data", paramLabel = "DIR",
            description = "Where the lm-evaluation-harness tasks' datasets are, as published on the Hugging Face hub: "
                    + "DIR/<owner>/<name>/[<config>/]<split>-*.parquet or .jsonl (see docs/eval.md).")
    Path taskData;

    @Option(names = "--num-fewshot", paramLabel = "N", defaultValue = "0",
            description = "Examples before each document, drawn as the harness draws them: the first N of mmlu's dev split, "
                    + "N at random of the training split (lambada_openai: of its test split) for the others; wikitext is "
                    + "zero-shot (default ${DEFAULT-VALUE}).")
    int numFewshot;

    @Option(names = "--add-bos-token", paramLabel = "auto|true|false", defaultValue = "auto",
            description = "BOS for harness tasks: auto = the tokenizer's own (the harness's default for HF models), "
                    + "true, or false (default ${DEFAULT-VALUE}).")
    String addBosToken;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Longest input of harness tasks (default: max_position_embeddings of the model's config, else 2048).")
    Integer maxLength;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "32",
            description = "Documents of a harness task scored together (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--limit", paramLabel = "N", description = "At most N documents per harness task.")
    Integer limit;

    @Option(names = "--bootstrap-iters", paramLabel = "N", defaultValue = "100000",
            description = "Resamples for the standard error of a perplexity, as the harness (default ${DEFAULT-VALUE}; 0: none).")
    int bootstrapIters;

    @Option(names = "--log-samples", description = "Also write samples_<task>.jsonl: every document's requests and scores.")
    boolean logSamples;

    @Option(names = "--partial-groups",
            description = "Aggregate mmlu (or a category) over the subjects whose files exist, instead of failing on a missing one.")
    boolean partialGroups;

    @Option(names = "--data", paramLabel = "FILE",
            description = "Held-out text for lm: JSONL with a \"text\" field per line (as data/kjv/validation.jsonl), "
                    + "or a text file read as one document; plain, .gz, .xz or .zst; .parquet (its \"text\" column); - for JSONL on standard input.")
    Path data;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Report directory to write (must not exist, or be empty).")
    Path out;

    @Option(names = "--tasks", paramLabel = "LIST",
            description = "Comma-separated: lm-evaluation-harness tasks (hellaswag, arc_easy, arc_challenge, piqa, winogrande, "
                    + "lambada_openai, wikitext, mmlu, mmlu_<subject>), and with --teacher/--student also lm, recall, passkey, "
                    + "mc:FILE, speed, niah_single, niah_multikey, niah_multivalue, vt (default " + TaskSpec.DEFAULT + " for a pair).")
    String tasks;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "32768",
            description = "At most N tokens of --data are scored (default ${DEFAULT-VALUE}).")
    long maxTokens;

    @Option(names = "--context", paramLabel = "N",
            description = "Context length: lm windows, the longest recall, passkey, needle and vt prompts (default " + DEFAULT_CONTEXT
                    + ", or the teacher's max_position_embeddings when smaller).")
    Integer context;

    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "Seed of the random prompts (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--samples", paramLabel = "N", defaultValue = "10",
            description = "Prompts per point of recall, passkey, needles and vt (default ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--speed-context", paramLabel = "N",
            description = "Longest context of the speed task (default: --context, at most " + CPU_SPEED_CONTEXT + " on the CPU, "
                    + GPU_SPEED_CONTEXT + " on cuda).")
    Integer speedContext;

    @Option(names = "--force", description = "Replace --out if it holds an eval report (report.md; never a directory of other files).")
    boolean force;

    @Override
    public Integer call() {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
        if (model != null && (teacher != null || student != null)) {
            throw new picocli.CommandLine.ParameterException(t2r.spec.commandLine().getSubcommands().get("eval"),
                    "--model evaluates one model; --teacher and --student compare two: give one or the other");
        }
        if (model == null && (teacher == null || student == null)) {
            throw new picocli.CommandLine.ParameterException(t2r.spec.commandLine().getSubcommands().get("eval"),
                    "Missing required options: --model DIR, or --teacher DIR and --student DIR");
        }
        List<String> names = Arrays.stream((tasks == null ? (model == null ? TaskSpec.DEFAULT : "") : tasks).split(","))
                .map(String::strip).filter(x -> !x.isEmpty()).toList();
        List<String> harnessNames = names.stream().filter(HarnessTasks::isHarnessName).toList();
        List<String> otherNames = names.stream().filter(x -> !HarnessTasks.isHarnessName(x)).toList();
        AtomicDirectory.check(out, force, Evaluator.REPORT);          // before the models load and the work starts
        if (model != null) return single(harnessNames, otherNames);
        HarnessEval harness = harnessNames.isEmpty() ? null : harness(harnessNames);
        if (otherNames.isEmpty()) return pairHarnessOnly(harness);
        List<TaskSpec> taskList = TaskSpec.parse(String.join(",", otherNames));
        if (samples < 1) throw new T2rException("--samples must be at least 1, not " + samples);
        if (maxTokens < 1) throw new T2rException("--max-tokens must be at least 1, not " + maxTokens);
        if (context != null && context < 16) throw new T2rException("--context must be at least 16 tokens, not " + context);
        if (speedContext != null && speedContext < 1) throw new T2rException("--speed-context must be positive, not " + speedContext);
        boolean lm = taskList.stream().anyMatch(t -> t.kind() == TaskSpec.Kind.LM);
        if (lm && data == null) throw new T2rException("--data FILE is needed for the lm task (or leave lm out of --tasks)");
        if (data != null && !TextInputs.isStdin(data)) InputFiles.requireRegularFile(data, "a text file (JSONL, .txt, Parquet)");

        Path teacherDir = t2r.modelDir(teacher), studentDir = t2r.modelDir(student);
        ModelSummary teacherSummary = ModelSummary.read(teacherDir);
        ModelSummary studentSummary = ModelSummary.read(studentDir);
        int ctx = context != null ? context
                : teacherSummary.maxPositions() == null ? DEFAULT_CONTEXT : Math.min(DEFAULT_CONTEXT, teacherSummary.maxPositions());
        int speedMax = speedContext != null ? speedContext : Math.min(ctx, deviceOptions.device == Device.cpu ? CPU_SPEED_CONTEXT : GPU_SPEED_CONTEXT);
        EvalSettings settings = new EvalSettings(data, maxTokens, ctx, deviceOptions.device.name(), taskList, seed, samples, speedMax, version());

        try (Tokenizer tokenizer = Tokenizer.load(teacherDir)) {
            checkSameTokenizer(tokenizer, studentDir);
            try (LanguageModel t = t2r.loadModel(teacherDir, deviceOptions); LanguageModel s = t2r.loadModel(studentDir, deviceOptions)) {
                Progress progress = Progress.to(t2r.spec.commandLine().getErr());
                progress.note("teacher " + teacherDir + ", student " + studentDir + "; tasks " + taskList + ", context " + ctx
                        + "; finished tasks are kept in " + WorkDir.beside(out).path());
                new Evaluator(settings, new EvalModel("teacher", teacherDir, t, summary(teacherSummary)),
                        new EvalModel("student", studentDir, s, summary(studentSummary)), tokenizer, progress).run(out, force);
                if (harness != null) {
                    harness.writePair(out.resolve("harness"), false, harness.run("teacher", teacherDir, t, tokenizer),
                            harness.run("student", studentDir, s, tokenizer));
                }
            }
        }
        return 0;
    }

    /** {@code --model DIR}: harness tasks on one model. */
    private Integer single(List<String> harnessNames, List<String> otherNames) {
        if (!otherNames.isEmpty()) {
            TaskSpec.parse(String.join(",", otherNames));                 // an unknown name gets its message first
            throw new T2rException("--tasks " + otherNames.getFirst() + " compares two models: give --teacher and --student "
                    + "(--model takes lm-evaluation-harness tasks: " + HarnessTasks.KNOWN + ")");
        }
        if (harnessNames.isEmpty()) throw new T2rException("--model needs --tasks: lm-evaluation-harness tasks (" + HarnessTasks.KNOWN + ")");
        HarnessEval harness = harness(harnessNames);
        Path dir = t2r.modelDir(model);
        try (Tokenizer tokenizer = Tokenizer.load(dir); LanguageModel m = t2r.loadModel(dir, deviceOptions)) {
            HarnessEval.ModelResults r = harness.run("model", dir, m, tokenizer);
            harness.writeSingle(out, force, r);
        }
        return 0;
    }

    /** {@code --teacher --student} with harness tasks only: both models' results and the retention table. */
    private Integer pairHarnessOnly(HarnessEval harness) {
        Path teacherDir = t2r.modelDir(teacher), studentDir = t2r.modelDir(student);
        try (Tokenizer tokenizer = Tokenizer.load(teacherDir)) {
            checkSameTokenizer(tokenizer, studentDir);
            HarnessEval.ModelResults tr, sr;
            try (LanguageModel t = t2r.loadModel(teacherDir, deviceOptions)) {
                tr = harness.run("teacher", teacherDir, t, tokenizer);
            }
            try (LanguageModel s = t2r.loadModel(studentDir, deviceOptions)) {
                sr = harness.run("student", studentDir, s, tokenizer);
            }
            harness.writePair(out, force, tr, sr);
        }
        return 0;
    }

    private HarnessEval harness(List<String> names) {
        HarnessTasks.Selection selection = HarnessTasks.select(names);
        if (taskData == null) throw new T2rException("--task-data DIR is needed for " + names.getFirst() + " (the datasets' files; see docs/eval.md)");
        if (!Files.isDirectory(taskData)) throw new T2rException(taskData + ": no such directory (--task-data)");
        HarnessEncoder.Bos bos = switch (addBosToken.toLowerCase(java.util.Locale.ROOT)) {
            case "auto", "none" -> HarnessEncoder.Bos.AUTO;
            case "true" -> HarnessEncoder.Bos.TRUE;
            case "false" -> HarnessEncoder.Bos.FALSE;
            default -> throw new T2rException("--add-bos-token must be auto, true or false, not '" + addBosToken + "'");
        };
        if (bootstrapIters < 0) throw new T2rException("--bootstrap-iters must not be negative, not " + bootstrapIters);
        Path first = t2r.modelDir(model != null ? model : teacher);
        Integer positions = ModelSummary.read(first).maxPositions();
        int length = maxLength != null ? maxLength : positions != null ? positions : DEFAULT_CONTEXT;
        HarnessRunner.Options options = new HarnessRunner.Options(numFewshot, batchSize, bootstrapIters, limit, partialGroups);
        return new HarnessEval(new HarnessEval.Settings(selection, new TaskData(taskData), options, bos, length, logSamples,
                deviceOptions.device.name(), version()), Progress.to(t2r.spec.commandLine().getErr()));
    }

    /** Both models must see the same tokens: a student's own tokenizer.json, when it has one, must agree. */
    static void checkSameTokenizer(Tokenizer teacher, Path studentDir) {
        Path file = studentDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) return;
        try (Tokenizer student = Tokenizer.load(studentDir)) {
            String probe = "In the beginning God created the heaven and the earth. 12345 café, naïve; <tag> \"quoted\"\n\tend";
            if (teacher.vocabSize() != student.vocabSize() || !Arrays.equals(teacher.encode(probe), student.encode(probe))) {
                throw new T2rException(file + ": the student's tokenizer differs from the teacher's; "
                        + "eval compares both models on the same tokens");
            }
        }
    }

    private static final ObjectMapper SNAKE = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE).build();

    private static JsonNode summary(ModelSummary s) {
        return SNAKE.valueToTree(s);
    }

    private static String version() {
        return gsat2r.core.BuildInfo.current().version();
    }
}
