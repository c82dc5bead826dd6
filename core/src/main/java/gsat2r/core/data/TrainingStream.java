package gsat2r.core.data;

import gsat2r.core.data.synthetic.SyntheticDocuments;
import gsat2r.core.data.synthetic.SyntheticMix;

import java.util.List;
import java.util.stream.IntStream;

/**
 * The training sequences of a run: the k-th is corpus window {@code order.windowAt(c)} or synthetic
 * window j of some kind, as {@link SyntheticMix} assigns it; either way a pure function of the seed
 * and k, which is what exact resume needs (a checkpoint stores only k). Without synthetic kinds it is
 * the corpus order itself. A run whose stages mix their data differently has one {@link Phase} per stage:
 * from its first sequence on, a phase assigns each sequence by its own mix, numbering the corpus and
 * synthetic windows as if it had run from the start (so a window may come again in a later phase).
 */
public final class TrainingStream implements AutoCloseable {

    /**
     * Sequences from {@code first} on (to the next phase's first) come from {@code mix}, the synthetic ones
     * from {@code synthetic} (null exactly when the mix is the corpus alone).
     */
    public record Phase(long first, SyntheticMix mix, SyntheticDocuments synthetic) {
        public Phase {
            if (first < 0) throw new IllegalArgumentException("a phase's first sequence must be >= 0 (got " + first + ")");
            if ((synthetic == null) != (mix.syntheticShare() == 0)) {
                throw new IllegalArgumentException("synthetic documents are needed exactly when the mix has a synthetic share");
            }
        }
    }

    private final PackedSequences corpus;
    private final SequenceOrder order;
    private final List<Phase> phases;
    /** Writes the next micro-batch while the caller trains on this one (synthetic data only; null otherwise). */
    private final java.util.concurrent.ExecutorService ahead;
    private Prefetch prefetch;

    /** A micro-batch being written ahead: its first sequence, its rows, whether with answers, and the window when done. */
    private record Prefetch(long first, int rows, boolean answers, java.util.concurrent.Future<Window> window) {}

    /** Tokens, and the answer marks or null. */
    private record Window(int[] tokens, byte[] answers) {}

    public TrainingStream(PackedSequences corpus, SequenceOrder order, SyntheticMix mix, SyntheticDocuments synthetic) {
        this(corpus, order, List.of(new Phase(0, mix, synthetic)));
    }

    /** Phases in order of their first sequences, the first from sequence 0. */
    public TrainingStream(PackedSequences corpus, SequenceOrder order, List<Phase> phases) {
        if (phases.isEmpty() || phases.getFirst().first() != 0) throw new IllegalArgumentException("the first phase must start at sequence 0");
        for (int i = 1; i < phases.size(); i++) {
            if (phases.get(i).first() <= phases.get(i - 1).first()) throw new IllegalArgumentException("phases must start at increasing sequences");
        }
        this.corpus = corpus;
        this.order = order;
        this.phases = List.copyOf(phases);
        boolean synthetic = phases.stream().anyMatch(p -> p.synthetic() != null);
        this.ahead = !synthetic ? null : java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "t2r-synthetic-ahead");
            t.setDaemon(true);
            return t;
        });
    }

    /** The corpus alone, in {@code order}. */
    public static TrainingStream corpusOnly(PackedSequences corpus, SequenceOrder order) {
        return new TrainingStream(corpus, order, new SyntheticMix(0, List.of()), null);
    }

    /** The mix of the first phase. */
    public SyntheticMix mix() {
        return phases.getFirst().mix();
    }

    /** The phase the k-th sequence belongs to. */
    public Phase phaseOf(long k) {
        Phase at = phases.getFirst();
        for (Phase p : phases) if (p.first() <= k) at = p;
        return at;
    }

    /** Synthetic documents written so far whose answer tokens could not be found ({@link SyntheticDocuments#unmarked}). */
    public long unmarked() {
        return phases.stream().map(Phase::synthetic).filter(java.util.Objects::nonNull).distinct().mapToLong(SyntheticDocuments::unmarked).sum();
    }

    /** Tokens of a sequence: T + 1 (inputs and targets). */
    public int windowTokens() {
        return corpus.length() + 1;
    }

    /** Where the k-th sequence comes from. */
    public SyntheticMix.Slot slotOf(long k) {
        return phaseOf(k).mix().slotOf(k);
    }

    /** Copies the k-th sequence ({@code T + 1} tokens) into {@code dst[off ..]}. */
    public void sequence(long k, int[] dst, int off) {
        SyntheticMix.Slot slot;
        long window = -1;
        Phase phase = phaseOf(k);
        synchronized (this) {
            slot = phase.mix().slotOf(k);
            if (slot instanceof SyntheticMix.Corpus(long c)) window = order.windowAt(c);
        }
        if (slot instanceof SyntheticMix.Synthetic(int kind, long j)) phase.synthetic().window(kind, j, dst, off, windowTokens());
        else corpus.window(window, dst, off);
    }

    /**
     * Sequences {@code first, first + 1, …} into {@code dst}, {@code rows} of {@code T + 1} tokens; synthetic
     * ones are written in parallel (tokenizing them is the costly part), each as alone. With synthetic data,
     * the {@code rows} sequences that follow are then written ahead in a thread of their own, for the next
     * call (what it writes is what this call would: every sequence is a function of the seed and its number).
     */
    public void sequences(long first, int rows, int[] dst) {
        sequences(first, rows, dst, null);
    }

    /**
     * The same sequences and marks as {@link #sequences(long, int, int[], byte[])}, for a look at them: the micro-batch
     * being written ahead is left alone, and none is written ahead after them.
     */
    public void peek(long first, int rows, int[] dst, byte[] answers) {
        write(first, rows, dst, answers);
    }

    /**
     * {@link #sequences(long, int, int[])}, and unless {@code answers} is null, laid out as {@code dst}: each token's
     * answer mark, the {@link gsat2r.core.data.synthetic.SyntheticKind#answerMark} of the kind whose recall target it is,
     * else 0 ({@link SyntheticDocuments#window(int, long, int[], byte[], int, int)}; 0 throughout corpus sequences).
     */
    public void sequences(long first, int rows, int[] dst, byte[] answers) {
        Prefetch p = prefetch;
        prefetch = null;
        int n = rows * windowTokens();
        if (p != null && p.first() == first && p.rows() == rows && p.answers() == (answers != null) && dst.length >= n) {
            Window w = done(p);
            System.arraycopy(w.tokens(), 0, dst, 0, n);
            if (answers != null) System.arraycopy(w.answers(), 0, answers, 0, n);
        } else {
            if (p != null) p.window().cancel(false);
            write(first, rows, dst, answers);
        }
        if (ahead != null) {
            long next = first + rows;
            boolean marks = answers != null;
            prefetch = new Prefetch(next, rows, marks, ahead.submit(() -> {
                Window w = new Window(new int[n], marks ? new byte[n] : null);
                write(next, rows, w.tokens(), w.answers());
                return w;
            }));
        }
    }

    private static Window done(Prefetch p) {
        try {
            return p.window().get();
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

    private void write(long first, int rows, int[] dst, byte[] answers) {
        SyntheticMix.Slot[] slots = new SyntheticMix.Slot[rows];
        Phase[] of = new Phase[rows];
        long[] windows = new long[rows];
        synchronized (this) {                          // the orders cache a permutation: asked by one thread at a time
            for (int r = 0; r < rows; r++) {
                of[r] = phaseOf(first + r);
                slots[r] = of[r].mix().slotOf(first + r);
                if (slots[r] instanceof SyntheticMix.Corpus(long c)) windows[r] = order.windowAt(c);
            }
        }
        int n = windowTokens();
        IntStream all = IntStream.range(0, rows);
        (ahead == null || rows < 2 ? all : all.parallel()).forEach(r -> {
            if (slots[r] instanceof SyntheticMix.Synthetic(int kind, long j)) of[r].synthetic().window(kind, j, dst, answers, r * n, n);
            else {
                corpus.window(windows[r], dst, r * n);
                if (answers != null) java.util.Arrays.fill(answers, r * n, (r + 1) * n, (byte) 0);
            }
        });
    }
}
