package gsat2r.cli;

import gsat2r.core.T2rException;
import gsat2r.core.data.DataPreparer;
import gsat2r.finetune.Trainer;
import gsat2r.finetune.TrainingListener;
import gsat2r.finetune.Plugins;
import gsat2r.finetune.distributed.DistributedEnv;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.finetune.distributed.TcpGroup;
import gsat2r.finetune.recipe.Recipe;
import gsat2r.finetune.recipe.RecipeOverrides;
import gsat2r.finetune.recipe.RecipeReader;
import gsat2r.finetune.distributed.DataSplit;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code t2r finetune --recipe R --out DIR [--resume | --force] [--gpus N [--nnodes M --node-rank K
 * --master-addr HOST --master-port PORT]]}: runs a training recipe (docs/recipes.md). Progress goes to
 * stderr, the final student's directory to stdout.
 *
 * <p>Data parallel (docs/distributed.md): {@code --gpus N} starts N ranks on this node as child
 * processes ({@link RankLauncher}), each this same command without {@code --gpus} and with RANK,
 * WORLD_SIZE, … in its environment; a process started with those variables set (by the launcher, or by
 * a cluster's own tooling, one process per GPU) joins the run as that rank.
 */
@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Distill and fine-tune a GSA student from its teacher as a recipe (JSON or YAML) says (see docs/recipes.md).")
final class FinetuneCommand implements Callable<Integer> {

    @ParentCommand
    T2r t2r;

    @Option(names = "--recipe", paramLabel = "FILE", required = true,
            description = "The recipe: JSON, or YAML (.yaml, .yml) with the same fields (docs/recipes.md).")
    Path recipe;

    @Option(names = "--set", paramLabel = "PATH=VALUE",
            description = "Change a recipe field for this run, e.g. --set stages.1.lr=1e-4 --set seq_len=1024 --set data.train=more.jsonl.zst"
                    + " (VALUE is JSON when it parses as JSON, else text; paths are relative to the current directory). Repeatable.")
    List<String> set = new ArrayList<>();

    @Option(names = "--out", paramLabel = "DIR", required = true,
            description = "Run directory: checkpoints, metrics.jsonl, and the trained student in DIR/final.")
    Path out;

    static final class Mode {
        @Option(names = "--resume", required = true, description = "Continue the run in --out from its last checkpoint, exactly.")
        boolean resume;

        @Option(names = "--force", required = true, description = "Delete an earlier run in --out and start over.")
        boolean force;
    }

    @ArgGroup(exclusive = true)
    Mode mode;

    @Option(names = "--gpus", paramLabel = "N",
            description = "Train data-parallel with N processes on this node, one per GPU (device cpu: N CPU processes), started by t2r.")
    Integer gpus;

    @Option(names = "--nnodes", paramLabel = "M", defaultValue = "1",
            description = "With --gpus: the number of nodes, each running this command with its --node-rank (default: ${DEFAULT-VALUE}).")
    int nnodes;

    @Option(names = "--node-rank", paramLabel = "K", defaultValue = "0",
            description = "With --gpus: this node's index, 0 .. M-1; node 0 runs rank 0 (default: ${DEFAULT-VALUE}).")
    int nodeRank;

    @Option(names = "--master-addr", paramLabel = "HOST",
            description = "With --gpus: the host of node 0, where the ranks meet (default: 127.0.0.1 on one node; required with --nnodes > 1).")
    String masterAddr;

    @Option(names = "--master-port", paramLabel = "PORT",
            description = "With --gpus: the TCP port of the rendezvous on node 0 (default: a free port on one node, 29500 on several).")
    Integer masterPort;

    /** How long the other ranks get to stop on their own after one failed, before SIGTERM. */
    static final Duration GRACE = Duration.ofSeconds(5);

    @Override
    public Integer call() {
        PrintWriter err = t2r.spec.commandLine().getErr();
        PrintWriter stdout = t2r.spec.commandLine().getOut();
        RecipeOverrides overrides = RecipeOverrides.parse(set);
        Optional<DistributedEnv> env = DistributedEnv.from(System.getenv());
        if (gpus != null) {
            if (env.isPresent()) {
                throw new T2rException("--gpus starts the ranks itself, but RANK and WORLD_SIZE are already set in the environment"
                        + " (started by another launcher?): drop --gpus, or unset them");
            }
            // The recipe and its split over the ranks, checked once here rather than by every rank.
            Recipe r = RecipeReader.read(recipe, overrides);
            DataSplit.of(r.batch(), r.microBatch(), Math.max(1, gpus) * Math.max(1, nnodes), r.file().toString());
            return launch(stdout, err);
        }
        if (nnodes != 1 || nodeRank != 0 || masterAddr != null || masterPort != null) {
            throw new T2rException("--nnodes, --node-rank, --master-addr and --master-port go with --gpus");
        }
        ProgressLine progress = ProgressLine.forStderr(err);
        boolean resume = mode != null && mode.resume;
        boolean force = mode != null && mode.force;
        Trainer.Result r;
        DistributedEnv rank = env.filter(e -> e.worldSize() > 1).orElse(null);
        Listener listener = new Listener(progress);
        // Ctrl-C or a kill ends the JVM through its shutdown hooks: say where the run can be continued from.
        Thread interrupted = new Thread(() -> progress.line(listener.interruptedNote(out)), "t2r-interrupted");
        boolean reports = rank == null || rank.rank() == 0;
        if (reports) Runtime.getRuntime().addShutdownHook(interrupted);
        try (ProcessGroup group = rank == null ? ProcessGroup.single() : TcpGroup.connect(rank)) {
            r = Trainer.run(new Trainer.Options(recipe, out, resume, force, group, rank == null ? 0 : rank.localRank(), overrides),
                    Plugins.discover(), listener);
        } finally {
            if (reports) removeHook(interrupted);
            progress.finish();
        }
        if (rank == null || rank.rank() == 0) {
            stdout.println(r.finalDir());
            stdout.flush();
        }
        return 0;
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // The JVM is already shutting down: the hook runs, as it should.
        }
    }

    /** {@code --gpus N}: this node's ranks as child processes, supervised. */
    private int launch(PrintWriter stdout, PrintWriter err) {
        String addr = masterAddr;
        if (addr == null) {
            if (nnodes > 1) throw new T2rException("--master-addr is required with --nnodes " + nnodes + ": the host of node 0");
            addr = "127.0.0.1";
        }
        int port = masterPort != null ? masterPort : nnodes > 1 ? 29500 : freePort();
        RankLauncher.Plan plan = new RankLauncher.Plan(gpus, nnodes, nodeRank, addr, port);
        List<String> base = childCommand(gpus);
        try {
            return new RankLauncher(plan, local -> base, stdout, err, GRACE).run();
        } catch (RankLauncher.LaunchFailure f) {
            err.println("error: " + f.getMessage());
            err.flush();
            return f.status;
        }
    }

    /**
     * The command of a rank: this JVM's java and options (minus a debugger agent), its class path, and
     * {@code t2r finetune} with the same recipe, run directory and mode, without the launcher's options.
     * The ranks of a node share its cores: each JVM is told it has {@code cores / N} of them (as torchrun
     * sets OMP_NUM_THREADS), unless the options already say.
     */
    private List<String> childCommand(int perNode) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        List<String> jvm = ManagementFactory.getRuntimeMXBean().getInputArguments();
        boolean processors = false;
        for (String a : jvm) {
            if (a.startsWith("-agentlib:jdwp") || a.startsWith("-Xrunjdwp")) continue;
            processors |= a.startsWith("-XX:ActiveProcessorCount");
            cmd.add(a);
        }
        if (!processors) cmd.add("-XX:ActiveProcessorCount=" + Math.max(1, Runtime.getRuntime().availableProcessors() / perNode));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(T2r.class.getName());
        if (t2r.verbose) cmd.add("--verbose");
        cmd.add("finetune");
        cmd.add("--recipe");
        cmd.add(recipe.toAbsolutePath().toString());
        cmd.add("--out");
        cmd.add(out.toAbsolutePath().toString());
        for (String s : set) {
            cmd.add("--set");
            cmd.add(s);
        }
        if (mode != null && mode.resume) cmd.add("--resume");
        if (mode != null && mode.force) cmd.add("--force");
        return cmd;
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Turns the trainer's reports into the progress line and note lines. */
    static final class Listener implements TrainingListener {
        private final ProgressLine progress;
        private record Checkpoint(Path dir, long step) {}

        private volatile StepReport lastStep;
        private volatile Checkpoint lastCheckpoint;

        Listener(ProgressLine progress) {
            this.progress = progress;
        }

        /** What an interrupted run has to continue from, in one line. */
        String interruptedNote(Path out) {
            StepReport s = lastStep;
            if (s == null) {
                return "t2r: interrupted before the first step; nothing was trained (if " + out + " holds this run now, --resume "
                        + "continues its setup)";
            }
            String at = String.format(Locale.ROOT, "at step %d of %d (stage '%s', step %d of %d)", s.globalStep(), s.totalSteps(), s.stage(),
                    s.step(), s.steps());
            // A resumed run's checkpoints from before the resume are on disk only.
            Checkpoint c = lastCheckpoint != null ? lastCheckpoint
                    : Trainer.latestCheckpoint(out).map(k -> new Checkpoint(k.dir(), k.globalStep())).orElse(null);
            String from = c != null ? "its last checkpoint is " + c.dir() + " (step " + c.step() + ")"
                    : "it has no checkpoint yet, so a resume starts from step 0";
            return "t2r: interrupted " + at + "; " + from + ": continue with the same command and --resume (not --force) in " + out;
        }

        @Override
        public void note(String message) {
            progress.line("t2r: " + message);
        }

        @Override
        public void dataProgress(DataPreparer.Progress p) {
            progress.update(DataPrepareCommand.describe(p), p.done());
        }

        @Override
        public void step(StepReport r) {
            lastStep = r;
            String terms = r.terms().entrySet().stream().filter(e -> !e.getKey().equals("loss") && !e.getKey().startsWith("mse."))
                    .map(e -> String.format(Locale.ROOT, "%s %.4f", e.getKey(), e.getValue())).collect(Collectors.joining("  "));
            String text = String.format(Locale.ROOT, "t2r: %s [%d/%d] step %d/%d  loss %.4f%s  lr %.2e  gnorm %.3g  %s tok/s  ETA %s",
                    r.stage(), r.stageIndex() + 1, r.stages(), r.step(), r.steps(), r.loss(), terms.isEmpty() ? "" : "  " + terms,
                    r.lr(), r.gradNorm(), ProgressLine.count(r.tokensPerSecond()), ProgressLine.duration(r.etaSeconds()));
            progress.update(text, r.step() == 1 || r.step() == r.steps());
        }

        @Override
        public void evaluation(EvalReport r) {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "t2r: %s step %d: validation", r.stage(), r.step()));
            for (Map.Entry<String, Double> e : r.values().entrySet()) {
                if (e.getKey().startsWith("val_mse.")) continue;
                sb.append(String.format(Locale.ROOT, "  %s %.4f", e.getKey().substring(4), e.getValue()));
            }
            progress.line(sb.toString());
        }

        @Override
        public void checkpoint(Path dir, long globalStep) {
            lastCheckpoint = new Checkpoint(dir, globalStep);
            progress.line("t2r: checkpoint " + dir);
        }
    }
}
