package gsat2r.cli;

import gsat2r.core.data.DataPreparer;
import gsat2r.finetune.Trainer;
import gsat2r.finetune.TrainingListener;
import gsat2r.finetune.backend.Backends;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code t2r finetune --recipe R --out DIR [--resume | --force]}: runs a training recipe
 * (docs/recipes.md). Progress goes to stderr, the final student's directory to stdout.
 */
@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Distill and fine-tune a GSA student from its teacher as a JSON recipe says (see docs/recipes.md).")
final class FinetuneCommand implements Callable<Integer> {

    @ParentCommand
    T2r t2r;

    @Option(names = "--recipe", paramLabel = "FILE", required = true, description = "The recipe (JSON).")
    Path recipe;

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

    @Override
    public Integer call() {
        PrintWriter err = t2r.spec.commandLine().getErr();
        PrintWriter stdout = t2r.spec.commandLine().getOut();
        ProgressLine progress = ProgressLine.forStderr(err);
        boolean resume = mode != null && mode.resume;
        boolean force = mode != null && mode.force;
        Trainer.Result r;
        try {
            r = Trainer.run(new Trainer.Options(recipe, out, resume, force), Backends.discover(), new Listener(progress));
        } finally {
            progress.finish();
        }
        stdout.println(r.finalDir());
        stdout.flush();
        return 0;
    }

    /** Turns the trainer's reports into the progress line and note lines. */
    static final class Listener implements TrainingListener {
        private final ProgressLine progress;

        Listener(ProgressLine progress) {
            this.progress = progress;
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
            if (progress.terminal()) return;                 // the step count on the live line says enough
            progress.line("t2r: checkpoint " + dir);
        }
    }
}
