package gsat2r.cli;

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
        description = {"Compare a student with its teacher: perplexity, KL and agreement on held-out text, associative "
                + "recall, passkey retrieval, multiple-choice tasks, decoding speed and memory.",
                "Writes report.json, report.md and PNG plots into --out (atomically). Finished tasks are kept in "
                        + ".<out>.partial/ beside it, so that re-running the same command after an interruption resumes."})
final class EvalCommand implements Callable<Integer> {

    static final int DEFAULT_CONTEXT = 2048;
    static final int CPU_SPEED_CONTEXT = 4096, GPU_SPEED_CONTEXT = 32768;

    @ParentCommand
    T2r t2r;

    @Option(names = "--teacher", paramLabel = "DIR", required = true, description = "Teacher model directory, or 'demo'.")
    String teacher;

    @Option(names = "--student", paramLabel = "DIR", required = true, description = "Student model directory, or 'demo'.")
    String student;

    @Option(names = "--data", paramLabel = "FILE",
            description = "Held-out text for lm: JSONL with a \"text\" field per line (as data/kjv/validation.jsonl), "
                    + "or a text file read as one document; plain, .gz, .xz or .zst; - for JSONL on standard input.")
    Path data;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Report directory to write (must not exist, or be empty).")
    Path out;

    @Option(names = "--tasks", paramLabel = "LIST", defaultValue = TaskSpec.DEFAULT,
            description = "Comma-separated: lm, recall, passkey, mc:FILE (JSONL of context, choices, label), speed "
                    + "(default ${DEFAULT-VALUE}).")
    String tasks;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "32768",
            description = "At most N tokens of --data are scored (default ${DEFAULT-VALUE}).")
    long maxTokens;

    @Option(names = "--context", paramLabel = "N",
            description = "Context length: lm windows, the longest recall and passkey prompts (default " + DEFAULT_CONTEXT
                    + ", or the teacher's max_position_embeddings when smaller).")
    Integer context;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu", description = "cpu (default) or cuda (both models on the GPU; precision: -Dgsat2r.cuda.precision=bf16|fp32).")
    Device device;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "Seed of the random prompts (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--samples", paramLabel = "N", defaultValue = "10",
            description = "Prompts per point of recall and passkey (default ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--speed-context", paramLabel = "N",
            description = "Longest context of the speed task (default: --context, at most " + CPU_SPEED_CONTEXT + " on the CPU, "
                    + GPU_SPEED_CONTEXT + " on cuda).")
    Integer speedContext;

    @Option(names = "--force", description = "Replace --out if it exists.")
    boolean force;

    @Override
    public Integer call() {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
        List<TaskSpec> taskList = TaskSpec.parse(tasks);
        if (samples < 1) throw new T2rException("--samples must be at least 1, not " + samples);
        if (maxTokens < 1) throw new T2rException("--max-tokens must be at least 1, not " + maxTokens);
        if (context != null && context < 16) throw new T2rException("--context must be at least 16 tokens, not " + context);
        if (speedContext != null && speedContext < 1) throw new T2rException("--speed-context must be positive, not " + speedContext);
        boolean lm = taskList.stream().anyMatch(t -> t.kind() == TaskSpec.Kind.LM);
        if (lm && data == null) throw new T2rException("--data FILE is needed for the lm task (or leave lm out of --tasks)");
        if (data != null && !TextInputs.isStdin(data) && !Files.isRegularFile(data)) throw new T2rException(data + ": no such file");

        Path teacherDir = t2r.modelDir(teacher), studentDir = t2r.modelDir(student);
        ModelSummary teacherSummary = ModelSummary.read(teacherDir);
        ModelSummary studentSummary = ModelSummary.read(studentDir);
        int ctx = context != null ? context
                : teacherSummary.maxPositions() == null ? DEFAULT_CONTEXT : Math.min(DEFAULT_CONTEXT, teacherSummary.maxPositions());
        int speedMax = speedContext != null ? speedContext : Math.min(ctx, device == Device.cpu ? CPU_SPEED_CONTEXT : GPU_SPEED_CONTEXT);
        EvalSettings settings = new EvalSettings(data, maxTokens, ctx, device.name(), taskList, seed, samples, speedMax, version());

        try (Tokenizer tokenizer = Tokenizer.load(teacherDir)) {
            checkSameTokenizer(tokenizer, studentDir);
            try (LanguageModel t = t2r.loadModel(teacherDir, device); LanguageModel s = t2r.loadModel(studentDir, device)) {
                Progress progress = Progress.to(t2r.spec.commandLine().getErr());
                progress.note("teacher " + teacherDir + ", student " + studentDir + "; tasks " + taskList + ", context " + ctx
                        + "; finished tasks are kept in " + WorkDir.beside(out).path());
                new Evaluator(settings, new EvalModel("teacher", teacherDir, t, summary(teacherSummary)),
                        new EvalModel("student", studentDir, s, summary(studentSummary)), tokenizer, progress).run(out, force);
            }
        }
        return 0;
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
