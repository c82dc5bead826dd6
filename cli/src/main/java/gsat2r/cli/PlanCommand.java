package gsat2r.cli;

import gsat2r.finetune.Plugins;
import gsat2r.finetune.plan.HybridPlanner;
import gsat2r.finetune.plan.Plan;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code t2r plan --recipe R --budget N --out DIR}: which layers of the recipe's student stay softmax
 * attention, chosen from measurements (docs/recall.md).
 */
@Command(name = "plan", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Choose which layers of a recipe's student keep softmax attention under a budget, from measurements: "
                + "the teacher's induction and previous-token heads (its retrieval circuit decides when it has one), a short "
                + "attention transfer (per-layer loss), recall probes of the student with layers restored and of the teacher "
                + "with layers linearized and of every set of the budget's layers (or greedy elimination when they are too "
                + "many), and sliding windows where they cost nothing.",
                "Writes DIR/plan.json, plan.md, student/ (the teacher converted with the plan's layers kept), recipe.json "
                        + "(the recipe with them) and recipe-naive.json (first and last layers, same budget); at.json, at/ "
                        + "and candidates/ hold the attention transfer's recipe and run and the probed candidates."})
final class PlanCommand implements Callable<Integer> {

    @ParentCommand
    T2r t2r;

    @Option(names = "--recipe", paramLabel = "FILE", required = true, description = "The recipe whose student is planned.")
    Path recipe;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Where the plan goes (must not exist or be empty, unless --force).")
    Path out;

    @Option(names = "--budget", paramLabel = "N", defaultValue = "2", description = "Layers that keep softmax attention (default ${DEFAULT-VALUE}).")
    int budget;

    @Option(names = "--at-tokens", paramLabel = "N", defaultValue = "1048576",
            description = "Tokens of the short attention transfer (default ${DEFAULT-VALUE}).")
    long atTokens;

    @Option(names = "--probes", paramLabel = "N", defaultValue = "8", description = "Recall probes per synthetic kind (default ${DEFAULT-VALUE}).")
    int probes;

    @Option(names = "--windows", paramLabel = "LIST", defaultValue = "64,256",
            description = "Sliding windows tried for the chosen layers, smallest first; 'none' for full attention only (default ${DEFAULT-VALUE}).")
    String windows;

    @Option(names = "--window-tolerance", paramLabel = "NATS", defaultValue = "0.02",
            description = "Probe log-probability per answer token a window may cost (default ${DEFAULT-VALUE}).")
    double windowTolerance;

    @Option(names = "--device", paramLabel = "DEVICE", description = "Where the short attention transfer and the probes run (default: the recipe's device).")
    String device;

    @Option(names = "--force", description = "Replace a former plan in --out.")
    boolean force;

    @Override
    public Integer call() {
        List<Integer> w = windows.strip().equalsIgnoreCase("none") ? List.of()
                : Arrays.stream(windows.split(",")).map(String::strip).filter(s -> !s.isEmpty()).map(s -> parse(s)).toList();
        PrintWriter err = t2r.spec.commandLine().getErr();
        ProgressLine progress = ProgressLine.forStderr(err);
        HybridPlanner.Result r;
        try {
            r = HybridPlanner.run(new HybridPlanner.Options(recipe, out, budget, atTokens, probes, w, windowTolerance, device, force),
                    Plugins.discover(), new FinetuneCommand.Listener(progress));
        } finally {
            progress.finish();
        }
        Plan p = r.plan();
        PrintWriter o = t2r.spec.commandLine().getOut();
        o.printf(Locale.ROOT, "plan       keep attention at %s (budget %d)%n", p.spelling(), p.budget());
        o.printf(Locale.ROOT, "probes     plan %.3f nats/token, %.0f%% exact; naive %s %.3f, %.0f%%; teacher %.3f, %.0f%%; all-GSA %.3f, %.0f%%%n",
                p.plan().score().logProb(), 100 * p.plan().score().exact(), String.join(",", p.naive().attention().stream().map(String::valueOf).toList()),
                p.naive().score().logProb(), 100 * p.naive().score().exact(), p.teacher().logProb(), 100 * p.teacher().exact(),
                p.allGsa().score().logProb(), 100 * p.allGsa().score().exact());
        o.println("wrote      " + out.resolve("plan.json") + ", plan.md, student/, recipe.json, recipe-naive.json");
        o.flush();
        return 0;
    }

    private static int parse(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new gsat2r.core.T2rException("--windows: '" + s + "' is not a number of tokens (e.g. 64,256, or none)");
        }
    }
}
