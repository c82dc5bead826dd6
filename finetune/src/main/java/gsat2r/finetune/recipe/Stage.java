package gsat2r.finetune.recipe;

import gsat2r.training.AdamWStep;
import gsat2r.training.Objective;
import gsat2r.training.TrainableSet;
import gsat2r.finetune.optim.WarmupCosine;
import gsat2r.core.data.synthetic.SyntheticSpec;

import java.util.List;

/**
 * One stage of a recipe, with its defaults applied and its length in optimizer steps resolved
 * ({@code tokens} is rounded up to whole steps of {@code batch · seq_len} tokens).
 */
public record Stage(int index, String name, Objective objective, long steps, double lr, long warmupSteps,
                    double minLrRatio, double weightDecay, double beta1, double beta2, double eps, double gradClip,
                    TrainableSet trainable, long evalInterval, double convLrScale, List<SyntheticSpec> synthetic,
                    MixSwitch mixSwitch) {

    /**
     * {@code synthetic}: the stage's own mix of synthetic documents, or null for the recipe's ({@code data.synthetic});
     * {@code mixSwitch}: where the stage's data changes to another mix, or null.
     */
    public Stage {
        synthetic = synthetic == null ? null : List.copyOf(synthetic);
    }

    /**
     * From step {@code afterSteps} + 1 of the stage on, its sequences come from {@code synthetic} (a data curriculum
     * inside one stage: the optimizer's moments and the learning-rate schedule go on, where a new stage starts both
     * afresh).
     */
    public record MixSwitch(long afterSteps, List<SyntheticSpec> synthetic) {
        public MixSwitch {
            if (afterSteps < 1) throw new IllegalArgumentException("a mix switch after " + afterSteps + " steps");
            synthetic = List.copyOf(synthetic);
        }
    }

    public WarmupCosine schedule() {
        return new WarmupCosine(lr, warmupSteps, steps, minLrRatio);
    }

    /** The AdamW update of step n (1-based within the stage) with the clipping factor {@code gradScale}. */
    public AdamWStep adamW(long n, double gradScale) {
        return new AdamWStep(n, schedule().lr(n), beta1, beta2, eps, weightDecay, gradScale, convLrScale);
    }

    /** Whether step n ends with an evaluation: every {@code evalInterval} steps, and at the last step. */
    public boolean evaluatesAt(long n) {
        return n == steps || (evalInterval > 0 && n % evalInterval == 0);
    }
}
