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
public final class TrainingStream implements AutoCloseable {

    private final PackedSequences corpus;
    private final SequenceOrder order;
    private final SyntheticMix mix;
    private final SyntheticDocuments synthetic;
    /** Writes the next micro-batch while the caller trains on this one (synthetic data only; null otherwise). */
    private final java.util.concurrent.ExecutorService ahead;
    private Prefetch prefetch;

    /** A micro-batch being written ahead: its first sequence, its rows, and the tokens when done. */
    private record Prefetch(long first, int rows, java.util.concurrent.Future<int[]> tokens) {}

    public TrainingStream(PackedSequences corpus, SequenceOrder order, SyntheticMix mix, SyntheticDocuments synthetic) {
        if ((synthetic == null) != (mix.syntheticShare() == 0)) {
            throw new IllegalArgumentException("synthetic documents are needed exactly when the mix has a synthetic share");
        }
        this.corpus = corpus;
        this.order = order;
        this.mix = mix;
        this.synthetic = synthetic;
        this.ahead = synthetic == null ? null : java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "t2r-synthetic-ahead");
            t.setDaemon(true);
            return t;
        });
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
        SyntheticMix.Slot slot;
        long window = -1;
        synchronized (this) {
            slot = mix.slotOf(k);
            if (slot instanceof SyntheticMix.Corpus(long c)) window = order.windowAt(c);
        }
        if (slot instanceof SyntheticMix.Synthetic(int kind, long j)) synthetic.window(kind, j, dst, off, windowTokens());
        else corpus.window(window, dst, off);
    }

    /**
     * Sequences {@code first, first + 1, …} into {@code dst}, {@code rows} of {@code T + 1} tokens; synthetic
     * ones are written in parallel (tokenizing them is the costly part), each as alone. With synthetic data,
     * the {@code rows} sequences that follow are then written ahead in a thread of their own, for the next
     * call (what it writes is what this call would: every sequence is a function of the seed and its number).
     */
    public void sequences(long first, int rows, int[] dst) {
        Prefetch p = prefetch;
        prefetch = null;
        if (p != null && p.first() == first && p.rows() == rows && dst.length >= rows * windowTokens()) {
            System.arraycopy(done(p), 0, dst, 0, rows * windowTokens());
        } else {
            if (p != null) p.tokens().cancel(false);
            write(first, rows, dst);
        }
        if (ahead != null) {
            long next = first + rows;
            prefetch = new Prefetch(next, rows, ahead.submit(() -> {
                int[] tokens = new int[rows * windowTokens()];
                write(next, rows, tokens);
                return tokens;
            }));
        }
    }

    private static int[] done(Prefetch p) {
        try {
            return p.tokens().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while writing synthetic sequences", e);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Stops writing ahead, and waits for a micro-batch being written (it may be using the tokenizer). */
    @Override
    public void close() {
        if (ahead == null) return;
        ahead.shutdownNow();
        try {
            ahead.awaitTermination(60, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void write(long first, int rows, int[] dst) {
        SyntheticMix.Slot[] slots = new SyntheticMix.Slot[rows];
        long[] windows = new long[rows];
        synchronized (this) {                          // the orders cache a permutation: asked by one thread at a time
            for (int r = 0; r < rows; r++) {
                slots[r] = mix.slotOf(first + r);
                if (slots[r] instanceof SyntheticMix.Corpus(long c)) windows[r] = order.windowAt(c);
            }
        }
        int n = windowTokens();
        IntStream all = IntStream.range(0, rows);
        (synthetic == null || rows < 2 ? all : all.parallel()).forEach(r -> {
            if (slots[r] instanceof SyntheticMix.Synthetic(int kind, long j)) synthetic.window(kind, j, dst, r * n, n);
            else corpus.window(windows[r], dst, r * n);
        });
    }
}
