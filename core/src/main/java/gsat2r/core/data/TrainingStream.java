package gsat2r.core.data;

import gsat2r.core.data.synthetic.SyntheticDocuments;
import gsat2r.core.data.synthetic.SyntheticMix;

import java.util.List;
import java.util.stream.IntStream;

/**
 * The training sequences of a run: the k-th is corpus window {@code order.windowAt(c)} or synthetic
 * window j of some kind, as {@link SyntheticMix} assigns it; either way a pure function of the seed
 * and k, which is what exact resume needs (a checkpoint stores only k). Without synthetic kinds it is
 * the corpus order itself.
 */
public final class TrainingStream {

    private final PackedSequences corpus;
    private final SequenceOrder order;
    private final SyntheticMix mix;
    private final SyntheticDocuments synthetic;

    public TrainingStream(PackedSequences corpus, SequenceOrder order, SyntheticMix mix, SyntheticDocuments synthetic) {
        if ((synthetic == null) != (mix.syntheticShare() == 0)) {
            throw new IllegalArgumentException("synthetic documents are needed exactly when the mix has a synthetic share");
        }
        this.corpus = corpus;
        this.order = order;
        this.mix = mix;
        this.synthetic = synthetic;
    }

    /** The corpus alone, in {@code order}. */
    public static TrainingStream corpusOnly(PackedSequences corpus, SequenceOrder order) {
        return new TrainingStream(corpus, order, new SyntheticMix(0, List.of()), null);
    }

    public SyntheticMix mix() {
        return mix;
    }

    /** Tokens of a sequence: T + 1 (inputs and targets). */
    public int windowTokens() {
        return corpus.length() + 1;
    }

    /** Where the k-th sequence comes from. */
    public SyntheticMix.Slot slotOf(long k) {
        return mix.slotOf(k);
    }

    /** Copies the k-th sequence ({@code T + 1} tokens) into {@code dst[off ..]}. */
    public void sequence(long k, int[] dst, int off) {
        fill(mix.slotOf(k), dst, off);
    }

    /**
     * Sequences {@code first, first + 1, …} into {@code dst}, {@code rows} of {@code T + 1} tokens; synthetic
     * ones are written in parallel (tokenizing them is the costly part), each as alone.
     */
    public void sequences(long first, int rows, int[] dst) {
        SyntheticMix.Slot[] slots = new SyntheticMix.Slot[rows];
        long[] windows = new long[rows];
        for (int r = 0; r < rows; r++) {               // the orders cache a permutation: asked here, in one thread
            slots[r] = mix.slotOf(first + r);
            if (slots[r] instanceof SyntheticMix.Corpus(long c)) windows[r] = order.windowAt(c);
        }
        int n = windowTokens();
        IntStream all = IntStream.range(0, rows);
        (synthetic == null || rows < 2 ? all : all.parallel()).forEach(r -> {
            if (slots[r] instanceof SyntheticMix.Synthetic(int kind, long j)) synthetic.window(kind, j, dst, r * n, n);
            else corpus.window(windows[r], dst, r * n);
        });
    }

    private void fill(SyntheticMix.Slot slot, int[] dst, int off) {
        switch (slot) {
            case SyntheticMix.Corpus(long c) -> corpus.window(order.windowAt(c), dst, off);
            case SyntheticMix.Synthetic(int kind, long j) -> synthetic.window(kind, j, dst, off, windowTokens());
        }
    }
}
