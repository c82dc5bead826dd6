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

import java.util.List;
import java.util.Locale;

/** Where a run's training sequences come from. */
final class TrainingStreams {
    private TrainingStreams() {
    }

    /**
     * The run's training sequences: the corpus in its seeded order, with the recipe's synthetic documents
     * (written with the teacher's tokenizer, haystacks from the training split) mixed in at their shares;
     * the corpus alone when there are none or every share is 0.
     */
    static TrainingStream open(Recipe recipe, PackedSequences train, PreparedDataset data, Tokenizer tokenizer,
                                         TrainingListener listener) {
        SequenceOrder order = new SequenceOrder(recipe.seed(), train.count());
        if (recipe.synthetic().isEmpty()) return TrainingStream.corpusOnly(train, order);
        if (recipe.synthetic().stream().allMatch(s -> s.share() == 0)) {     // a mix switched off share by share
            listener.note("synthetic data: every share is 0; the corpus alone");
            return TrainingStream.corpusOnly(train, order);
        }
        SyntheticContext context = SyntheticContext.of(tokenizer, data.train());
        List<SyntheticKind> kinds = recipe.synthetic().stream().map(SyntheticSpec::kind).toList();
        SyntheticMix mix = new SyntheticMix(recipe.seed(), recipe.synthetic().stream().map(SyntheticSpec::share).toList());
        StringBuilder shares = new StringBuilder();
        for (int i = 0; i < kinds.size(); i++) {
            shares.append(i == 0 ? "" : ", ").append(kinds.get(i).name()).append(String.format(Locale.ROOT, " %.1f%%", 100 * mix.share(i)));
        }
        listener.note("synthetic data: " + shares + " of the training sequences (corpus " + String.format(Locale.ROOT, "%.1f%%",
                100 * (1 - mix.syntheticShare())) + "); " + context.lexicon().words().size() + " one-token words in the lexicon");
        return new TrainingStream(train, order, mix, new SyntheticDocuments(context, kinds, recipe.seed()));
    }
}
