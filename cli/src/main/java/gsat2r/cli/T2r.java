package gsat2r.cli;

import gsat2r.core.BuildInfo;
import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.Precision;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code t2r} command line. Exit status: 0 on success, 2 on a usage error (picocli's message and a
 * hint on stderr), 1 on any other error with one line {@code error: <message>} on stderr; stack
 * traces only with {@code --verbose}.
 */
@Command(name = "t2r",
        mixinStandardHelpOptions = true,
        versionProvider = T2r.Version.class,
        description = "Convert Llama/Mistral checkpoints into Gated Slot Attention students; run, compare and export them.",
        subcommands = {InspectCommand.class, LogitsCommand.class, GenerateCommand.class, ConvertCommand.class,
                DataCommand.class, FinetuneCommand.class, PlanCommand.class, EvalCommand.class, GatesCommand.class, ExportCommand.class,
                ServeCommand.class, CompletionCommand.class, CommandLine.HelpCommand.class},
        usageHelpAutoWidth = true)
public final class T2r implements Runnable {

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Print progress notes and, on an error, its stack trace.")
    boolean verbose;

    @Spec
    CommandSpec spec;

    private final Function<Path, LanguageModel> modelLoader;
    private final Path cacheRoot;

    /** @param modelLoader turns a model directory into a model ({@link ModelLoader#load} in the real program) */
    public T2r(Function<Path, LanguageModel> modelLoader, Path cacheRoot) {
        this.modelLoader = modelLoader;
        this.cacheRoot = cacheRoot;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(new OutputStreamWriter(new FileOutputStream(FileDescriptor.out), StandardCharsets.UTF_8));
        PrintWriter err = new PrintWriter(new OutputStreamWriter(new FileOutputStream(FileDescriptor.err), StandardCharsets.UTF_8));
        int status = execute(new T2r(ModelLoader::load, DemoModel.defaultCacheRoot()), args, out, err);
        System.exit(status);
    }

    /** Runs one command line; returns its exit status. Nothing escapes as an exception. */
    public static int execute(T2r app, String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(app);
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler(T2r::usageError);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> badOptionValue(e, cmd) ? usageError(e.getMessage(), cmd) : app.failure(e, err));
        try {
            return cl.execute(args);
        } catch (Throwable e) {                 // Errors (out of memory, a native library) pass through picocli
            return app.failure(e, err);
        } finally {
            out.flush();
            err.flush();
        }
    }

    /** A missing subcommand is a usage error. */
    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "Missing required subcommand");
    }

    Path cacheRoot() {
        return cacheRoot;
    }

    boolean verbose() {
        return verbose;
    }

    /** Resolves {@code --model}: "demo" is the model shipped in the jar, anything else a directory. */
    Path modelDir(String spec) {
        return ModelDirs.resolve(spec, new DemoModel(cacheRoot, this::note));
    }

    LanguageModel loadModel(Path dir) {
        note("loading model " + dir);
        return modelLoader.apply(dir);
    }

    /** {@link #loadModel(Path)} on the CPU in fp32; on another device or precision, that device's implementation. */
    LanguageModel loadModel(Path dir, DeviceOptions d) {
        Precision p = d.precision();
        if (d.device == Device.cpu && (p == null || p == Precision.FP32)) return loadModel(dir);
        note("loading model " + dir + " on " + d.device + (p == null ? "" : " in " + p));
        return ModelLoader.load(dir, d.device.name(), p);
    }

    /** A progress note on stderr, only with --verbose. */
    void note(String message) {
        if (verbose) {
            PrintWriter err = spec.commandLine().getErr();
            err.println("t2r: " + message);
            err.flush();
        }
    }

    private int failure(Throwable e, PrintWriter err) {
        err.println("error: " + ErrorMessages.oneLine(e));
        if (verbose) e.printStackTrace(err);
        err.flush();
        return 1;
    }

    private static int usageError(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        // picocli starts some of its messages (mutually exclusive options) with "Error: "; the others it does not.
        err.println(String.valueOf(e.getMessage()).replaceFirst("^Error: ", ""));
        CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
        return hint(cmd);
    }

    private static int usageError(String message, CommandLine cmd) {
        cmd.getErr().println(message);
        return hint(cmd);
    }

    private static int hint(CommandLine cmd) {
        PrintWriter err = cmd.getErr();
        err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
        err.flush();
        return cmd.getCommandSpec().exitCodeOnInvalidInput();
    }

    /** Matches the option a message starts with: {@code --context} in "--context must be at least 16 tokens, not 0". */
    private static final Pattern LEADING_OPTION = Pattern.compile("^(--[a-z][a-z0-9-]*)\\b");

    /**
     * Whether a failure is a bad value of one of the command's own options (the libraries check values where they are
     * used and name the option first): a usage error, exit 2, like the ones picocli finds while parsing.
     */
    private static boolean badOptionValue(Exception e, CommandLine cmd) {
        if (!(e instanceof T2rException) || e.getMessage() == null) return false;
        Matcher m = LEADING_OPTION.matcher(e.getMessage());
        return m.find() && cmd.getCommandSpec().findOption(m.group(1)) != null;
    }

    /** The version and git commit written into the jar at build time ({@link BuildInfo}). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"t2r " + BuildInfo.current().describe(), "Java " + Runtime.version()};
        }
    }
}
