package gsat2r.finetune;

import gsat2r.core.data.PackedSequences;
import gsat2r.core.data.PreparedDataset;
import gsat2r.core.data.SequenceOrder;
import gsat2r.core.data.TrainingStream;
import gsat2r.core.data.synthetic.SyntheticContext;
import gsat2r.core.data.synthetic.SyntheticDocuments;
import gsat2r.core.data.synthetic.SyntheticKind;
import gsat2r.core.data.synthetic.SyntheticMix;
import gsat2r.core.data.synthetic.SyntheticSpec;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.finetune.recipe.Recipe;
import gsat2r.finetune.recipe.Stage;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/** Where a run's training sequences come from. */
final class TrainingStreams {
    private TrainingStreams() {
    }

    /**
     * The run's training sequences: the corpus in its seeded order, with the recipe's synthetic documents
     * (written with the teacher's tokenizer, haystacks from the training split) mixed in at their shares;
     * the corpus alone when there are none or every share is 0. A stage with a mix of its own
     * ({@code stages[i].synthetic}) has its sequences from that mix, and a stage's mix switch
     * ({@code stages[i].synthetic_switch}) from its mix after so many steps: each a phase of the stream from
     * its first sequence on.
     */
    static TrainingStream open(Recipe recipe, PackedSequences train, PreparedDataset data, Tokenizer tokenizer,
                               TrainingListener listener) {
        SequenceOrder order = new SequenceOrder(recipe.seed(), train.count());
        List<MixFrom> mixes = mixes(recipe);
        if (mixes.stream().allMatch(m -> m.mix().stream().allMatch(s -> s.share() == 0))) {
            if (!recipe.synthetic().isEmpty()) listener.note("synthetic data: every share is 0; the corpus alone");   // a mix switched off share by share
            return TrainingStream.corpusOnly(train, order);
        }
        SyntheticContext context = SyntheticContext.of(tokenizer, data.train());
        boolean ownMixes = recipe.stages().stream().anyMatch(s -> s.synthetic() != null || s.mixSwitch() != null);
        List<TrainingStream.Phase> phases = new ArrayList<>();
        for (int i = 0; i < mixes.size(); i++) {
            MixFrom m = mixes.get(i);
            if (i == 0 || !m.mix().equals(mixes.get(i - 1).mix())) {
                phases.add(phase(recipe, m.first(), m.mix(), context, listener, ownMixes ? m.label() + ": " : ""));
            }
        }
        return new TrainingStream(train, order, phases);
    }

    /** A mix of synthetic documents and the first sequence that has it; {@code label} says where it comes from. */
    private record MixFrom(long first, List<SyntheticSpec> mix, String label) {
    }

    /** The mixes in order: each stage's from its first sequence, and its switch's from the switch on. */
    private static List<MixFrom> mixes(Recipe recipe) {
        List<MixFrom> mixes = new ArrayList<>();
        long first = 0;
        for (Stage stage : recipe.stages()) {
            mixes.add(new MixFrom(first, Objects.requireNonNullElse(stage.synthetic(), recipe.synthetic()), "stage " + stage.name()));
            Stage.MixSwitch w = stage.mixSwitch();
            if (w != null) {
                mixes.add(new MixFrom(first + w.afterSteps() * recipe.batch(), w.synthetic(),
                        "stage " + stage.name() + " from step " + (w.afterSteps() + 1)));
            }
            first += stage.steps() * recipe.batch();
        }
        return mixes;
    }

    /** Sequences from {@code first} on, from {@code specs} (the corpus alone when every share is 0). */
    private static TrainingStream.Phase phase(Recipe recipe, long first, List<SyntheticSpec> specs, SyntheticContext context,
                                              TrainingListener listener, String label) {
        List<SyntheticKind> kinds = specs.stream().map(SyntheticSpec::kind).toList();
        SyntheticMix mix = new SyntheticMix(recipe.seed(), specs.stream().map(SyntheticSpec::share).toList());
        if (mix.syntheticShare() == 0) {
            listener.note("synthetic data: " + label + "the corpus alone");
            return new TrainingStream.Phase(first, mix, null);
        }
        StringBuilder shares = new StringBuilder();
        for (int i = 0; i < kinds.size(); i++) {
            shares.append(i == 0 ? "" : ", ").append(kinds.get(i).name()).append(String.format(Locale.ROOT, " %.1f%%", 100 * mix.share(i)));
        }
        listener.note("synthetic data: " + label + shares + " of the training sequences (corpus " + String.format(Locale.ROOT, "%.1f%%",
                100 * (1 - mix.syntheticShare())) + "); " + context.lexicon().words().size() + " one-token words in the lexicon");
        return new TrainingStream.Phase(first, mix, new SyntheticDocuments(context, kinds, recipe.seed()));
    }
}
