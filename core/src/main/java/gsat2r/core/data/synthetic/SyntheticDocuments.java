package gsat2r.core.data.synthetic;

import gsat2r.core.data.SplitMix64;

import java.util.List;

/**
 * The synthetic training windows of each kind: window j of kind i is a pure function of (seed, i, j).
 * A window of n tokens is filled with documents of its kind, each with a budget drawn uniformly from
 * [half, all] of what is left (so the first document of a window is long: retrieval must reach across
 * hundreds of tokens), until too little is left for another; the rest is corpus text from a random
 * place, as packing would put there.
 */
public final class SyntheticDocuments {

    /** The purpose tag of the windows' random streams ({@link SplitMix64#derive}). */
    static final long WINDOW = 0x53594E54L;            // "SYNT"

    private final SyntheticContext context;
    private final List<SyntheticKind> kinds;
    private final long seed;
    private final java.util.concurrent.atomic.AtomicLong unmarked = new java.util.concurrent.atomic.AtomicLong();

    public SyntheticDocuments(SyntheticContext context, List<SyntheticKind> kinds, long seed) {
        this.context = context;
        this.kinds = List.copyOf(kinds);
        this.seed = seed;
    }

    public List<SyntheticKind> kinds() {
        return kinds;
    }

    public SyntheticContext context() {
        return context;
    }

    /** Fills {@code dst[off, off + n)} with window {@code index} of kind {@code kind}. */
    public void window(int kind, long index, int[] dst, int off, int n) {
        window(kind, index, dst, null, off, n);
    }

    /**
     * Fills {@code dst[off, off + n)} with window {@code index} of kind {@code kind} and, unless {@code answers} is
     * null, {@code answers[off, off + n)} with each token's answer mark: the kind's {@link SyntheticKind#answerMark}
     * where the token is a recall target ({@link AnswerTokens}), else 0 (the corpus text after the documents is never
     * one; a document whose tokens do not spell its text marks none and is counted).
     */
    public void window(int kind, long index, int[] dst, byte[] answers, int off, int n) {
        SplitMix64 rng = random(kind, index);
        int pos = 0;
        if (answers != null) java.util.Arrays.fill(answers, off, off + n, (byte) 0);
        byte mark = SyntheticKind.answerMark(kinds.get(kind).name());
        for (Doc.Encoded d : documents(rng, kinds.get(kind), n)) {
            System.arraycopy(d.tokens(), 0, dst, off + pos, d.tokens().length);
            if (answers != null) {
                boolean[] marked = AnswerTokens.of(context.tokenizer(), d);
                if (marked == null) unmarked.incrementAndGet();
                else for (int i = 0; i < marked.length; i++) if (marked[i]) answers[off + pos + i] = mark;
            }
            pos += d.tokens().length;
        }
        context.fill(rng, dst, off + pos, n - pos);
    }

    /** Documents whose answer tokens could not be found (their tokens do not spell their text), so far. */
    public long unmarked() {
        return unmarked.get();
    }

    /** The documents of window {@code index} of kind {@code kind} (what {@link #window} packs), for inspection and tests. */
    public List<Doc.Encoded> documents(int kind, long index, int n) {
        return documents(random(kind, index), kinds.get(kind), n);
    }

    private List<Doc.Encoded> documents(SplitMix64 rng, SyntheticKind k, int n) {
        List<Doc.Encoded> out = new java.util.ArrayList<>();
        int pos = 0;
        while (n - pos >= k.minTokens()) {
            int left = n - pos;
            int budget = Math.max(k.minTokens(), left / 2 + rng.nextInt(left - left / 2 + 1));
            Doc.Encoded d = k.document(context, rng, budget);
            if (d == null) break;
            out.add(d);
            pos += d.tokens().length;
        }
        return out;
    }

    private SplitMix64 random(int kind, long index) {
        return new SplitMix64(SplitMix64.derive(SplitMix64.derive(seed, WINDOW, kind), WINDOW, index));
    }
}
