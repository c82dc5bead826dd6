package gsat2r.core.data;

import gsat2r.core.T2rException;

/**
 * Training sequences cut from a split's packed token stream: window {@code i} is the {@code T + 1}
 * tokens starting at {@code i·T} (inputs are its first T tokens, targets its last T). Consecutive windows
 * share one token, so every token of the stream but the first is a target exactly once per pass.
 *
 * <p>Windows cross document borders: a sequence may hold the end of one document, its EOS, then the
 * next document's BOS and beginning. This is the usual packing for language-model training and
 * distillation (no padding, every position trains); the separators tell the model where a document
 * starts, and the teacher sees the same packed sequence as the student, so their distributions are
 * compared on identical contexts. Attention is not reset at the borders (neither does the teacher's
 * pretraining in most recipes).
 */
public final class PackedSequences {

    private final PreparedDataset.Split split;
    private final int length;
    private final long count;

    /** Windows of {@code length + 1} tokens with stride {@code length} over {@code split}. */
    public PackedSequences(PreparedDataset.Split split, int length) {
        if (length < 1) throw new IllegalArgumentException("sequence length must be at least 1, got " + length);
        this.split = split;
        this.length = length;
        this.count = split.tokens() > length ? (split.tokens() - 1) / length : 0;
    }

    /** Sequence length T (a window holds T + 1 tokens). */
    public int length() {
        return length;
    }

    /** Number of windows. */
    public long count() {
        return count;
    }

    public PreparedDataset.Split split() {
        return split;
    }

    /** Copies window {@code i} ({@code T + 1} tokens) into {@code dst[off ..]}. */
    public void window(long i, int[] dst, int off) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("window " + i + " of " + count);
        split.read(i * length, dst, off, length + 1);
    }

    /** Fails with a clear message when the split cannot give a single window. */
    public PackedSequences requireNonEmpty(String what) {
        if (count == 0) {
            throw new T2rException(what + ": the " + split.name() + " split has " + split.tokens()
                    + " tokens, fewer than one sequence of seq_len + 1 = " + (length + 1));
        }
        return this;
    }
}
