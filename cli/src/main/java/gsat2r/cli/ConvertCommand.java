package gsat2r.cli;

import gsat2r.converter.AttentionToGsa;
import gsat2r.converter.ConversionReport;
import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.GateInit;
import gsat2r.converter.ShortConvInit;
import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.safetensors.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.concurrent.Callable;

/**
 * {@code t2r convert}: a Llama/Mistral teacher into a GSA student in fla's checkpoint layout, written
 * atomically; prints what it did (parameters added, state per sequence against the teacher's KV cache).
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert a Llama/Mistral teacher into a Gated Slot Attention student (fla's GSAForCausalLM layout).")
final class ConvertCommand implements Callable<Integer> {

    @ParentCommand
    T2r t2r;

    @Spec
    CommandSpec spec;

    @Option(names = "--teacher", paramLabel = "DIR",
            description = "Teacher model directory (config.json, safetensors, tokenizer), or 'demo'.")
    String teacher;

    @Option(names = "--student", paramLabel = "DIR",
            description = "Instead of a teacher: a hybrid student whose attention layers --to-gsa makes GSA layers "
                    + "(their q/k/v/o kept, new gates from --gate-init and --seed; everything else copied).")
    Path student;

    @Option(names = "--to-gsa", paramLabel = "LAYERS", split = ",",
            description = "With --student: the attention layers to make GSA, e.g. 4.")
    List<Integer> toGsa;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Student directory to write (must not exist or be empty, unless --force).")
    Path out;

    @Option(names = "--slots", paramLabel = "M", defaultValue = "64", description = "Memory slots per kv head (default ${DEFAULT-VALUE}).")
    int slots;

    @Option(names = "--gate-normalizer", paramLabel = "TAU", defaultValue = "8",
            description = "tau in g = logsigmoid(f)/tau (default ${DEFAULT-VALUE}).")
    double gateNormalizer;

    @Option(names = "--gate-init", paramLabel = "INIT", defaultValue = "random",
            description = "How f_proj starts: random (N(0, 0.02), default) or key-pool (pooled from the teacher's k_proj).")
    String gateInit;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "Seed of the random draws (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--dtype", paramLabel = "TYPE",
            description = "Weights' storage type: bf16 or f32 (default: the teacher's, so reused tensors are copied bit-exactly).")
    String dtype;

    @Option(names = "--keep-attention", paramLabel = "LAYERS", split = ",",
            description = "Layers that keep the teacher's softmax attention (a hybrid student), e.g. 0,7; LAYER:W keeps it in a "
                    + "sliding window of W tokens, e.g. 0,7:256.")
    List<String> keepAttention;

    @Option(names = "--short-conv", paramLabel = "K", defaultValue = "0",
            description = "fla's short convolutions of K taps on the GSA layers' q, k and v (use_short_conv; 4 is fla's); "
                    + "0 (default): none.")
    int shortConv;

    @Option(names = "--short-conv-init", paramLabel = "INIT", defaultValue = "identity",
            description = "How the short convolutions start: identity (default: the current token's tap 1, the others 0) or "
                    + "random (each tap U(-1/sqrt(K), 1/sqrt(K)), PyTorch's and so fla's own init).")
    String shortConvInit;

    @Option(names = "--kv-heads", paramLabel = "N", defaultValue = "0",
            description = "kv heads of the GSA layers, each with its own keys, values, gates and slots: a multiple of the "
                    + "teacher's that divides its query heads, every teacher kv head copied into N / (its kv heads) heads "
                    + "(the student starts computing what it computes with the teacher's); 0 (default): the teacher's.")
    int kvHeads;

    @Option(names = "--force", description = "Replace --out if it holds a t2r student (never a teacher, nor a directory of other files).")
    boolean force;

    @Override
    public Integer call() {
        if ((teacher == null) == (student == null)) {
            throw new ParameterException(spec.commandLine(), "give either --teacher or --student");
        }
        if (student != null) return convertStudent();
        if (toGsa != null) throw new ParameterException(spec.commandLine(), "--to-gsa goes with --student");
        if (shortConv == 0 && spec.commandLine().getParseResult().hasMatchedOption("--short-conv-init")) {
            throw new ParameterException(spec.commandLine(), "--short-conv-init needs --short-conv K (without it there are no convolutions to start)");
        }
        ConvertOptions options;
        try {
            ConvertOptions.Kept kept = ConvertOptions.parseKept(keepAttention == null ? List.of() : keepAttention);
            options = new ConvertOptions(slots, gateNormalizer, GateInit.parse(gateInit), seed, dtype(), kept.layers(), kept.windows(),
                    shortConv, ShortConvInit.parse(shortConvInit), kvHeads);
        } catch (T2rException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        Path teacherDir = t2r.modelDir(teacher);
        t2r.note("converting " + teacherDir + " into " + out);
        long start = System.nanoTime();
        ConversionReport report = Converter.convert(teacherDir, out, options, force);
        PrintWriter w = t2r.spec.commandLine().getOut();
        for (String line : report.summary()) w.println(line);
        w.printf(Locale.ROOT, "took       %.1f s%n", (System.nanoTime() - start) / 1e9);
        w.flush();
        return 0;
    }

    private int convertStudent() {
        if (toGsa == null || toGsa.isEmpty()) throw new ParameterException(spec.commandLine(), "--student needs --to-gsa LAYERS");
        for (String option : List.of("--slots", "--gate-normalizer", "--dtype", "--keep-attention", "--short-conv",
                "--short-conv-init", "--kv-heads")) {
            if (spec.commandLine().getParseResult().hasMatchedOption(option)) {
                throw new ParameterException(spec.commandLine(), option + " does not apply to --student: the student's own settings are kept");
            }
        }
        GateInit init;
        try {
            init = GateInit.parse(gateInit);
        } catch (T2rException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        t2r.note("making layers " + toGsa + " of " + student + " GSA layers, into " + out);
        GsaConfig c = AttentionToGsa.convert(student, out, new TreeSet<>(toGsa), init, seed, force);
        PrintWriter w = t2r.spec.commandLine().getOut();
        w.println("student    " + out + ": " + c.layerPlan());
        w.flush();
        return 0;
    }

    private DType dtype() {
        if (dtype == null) return null;
        return switch (dtype.toLowerCase(Locale.ROOT)) {
            case "bf16", "bfloat16" -> DType.BF16;
            case "f32", "fp32", "float32" -> DType.F32;
            default -> throw new T2rException("--dtype must be bf16 or f32, got '" + dtype + "'");
        };
    }
}
