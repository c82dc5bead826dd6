package gsat2r.finetune;

import gsat2r.core.data.DataPreparer;

import java.nio.file.Path;
import java.util.SequencedMap;

/** What a run tells its caller as it goes (the CLI prints a progress line from it). All methods are optional. */
public interface TrainingListener {

    /** A one-line note: "converting the student", "resuming from step 40", ... */
    default void note(String message) {}

    /** Tokenization progress while the run prepares raw data files. */
    default void dataProgress(DataPreparer.Progress progress) {}

    /** After every optimizer step. */
    default void step(StepReport report) {}

    /** After every evaluation on the validation split. */
    default void evaluation(EvalReport report) {}

    /** After a checkpoint has been written. */
    default void checkpoint(Path dir, long globalStep) {}

    /**
     * One optimizer step: the stage (name, 0-based index, count), the step within the stage and the
     * stage's length, the global step and the run's total, the step's mean loss and terms, the learning
     * rate, the gradient norm before clipping, the tokens trained so far, the rate of this process and
     * the estimated seconds left at that rate.
     */
    record StepReport(String stage, int stageIndex, int stages, long step, long steps, long globalStep, long totalSteps,
                      double loss, SequencedMap<String, Double> terms, double lr, double gradNorm, long tokens,
                      double tokensPerSecond, double etaSeconds) {}

    /** One evaluation: the stage, the step it followed, and the values written to metrics.jsonl ({@code val_loss}, ...). */
    record EvalReport(String stage, int stageIndex, long step, SequencedMap<String, Double> values) {}
}
