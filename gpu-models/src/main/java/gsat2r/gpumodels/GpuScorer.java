package gsat2r.gpumodels;

import gsat2r.core.model.Continuations;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Embedding;
import gsat2r.gpu.ops.Matmul;
import gsat2r.gpu.ops.Scoring;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;

/**
 * {@code LanguageModel.scoreContinuations} on the GPU: every (context + continuation but its last token) of a batch
 * is a sequence of one padded forward pass (right-padded: causal layers do not let the padding reach the positions
 * that are read), sequences sorted by length and cut into passes of at most {@link #TOKENS_PER_PASS} padded tokens;
 * of the final-norm output only the rows that predict a continuation's tokens are gathered and multiplied by the head
 * (fp32 logits, a block of rows at a time), and {@link Scoring} reduces them on the device to one log-likelihood and
 * one greedy flag per continuation. Nothing of vocabulary size crosses to the host.
 */
final class GpuScorer {
    /** Padded tokens of one forward pass at most (the MLP's activations of a 1B model: 0.5 GB per buffer at 32K). */
    static final int TOKENS_PER_PASS = 32768;
    /** Logit rows of one head product at most. */
    static final int ROWS_PER_BLOCK = 4096;

    private final Gpu gpu;
    private final ElementType type;
    private final int hidden, vocab;
    private final DeviceBuffer head;
    private final Function<DeviceBatch, DeviceBuffer> normed;

    /**
     * @param normed the model's forward pass to its final norm, {@code [B·T, hidden]} in {@code type} (the caller of
     *               {@link #score} closes what it returns)
     */
    GpuScorer(Gpu gpu, ElementType type, int hidden, int vocab, DeviceBuffer head, Function<DeviceBatch, DeviceBuffer> normed) {
        this.gpu = gpu;
        this.type = type;
        this.hidden = hidden;
        this.vocab = vocab;
        this.head = head;
        this.normed = normed;
    }

    /** One sequence to read: its tokens, where its scored rows start and how many, and the targets. */
    private record Piece(int request, int choice, int[] input, int first, int[] targets) {}

    List<Continuations.Score[]> score(List<Continuations> batch) {
        List<Piece> pieces = new ArrayList<>();
        List<Continuations.Score[]> out = new ArrayList<>(batch.size());
        for (int r = 0; r < batch.size(); r++) {
            Continuations c = batch.get(r);
            for (int[] ids : c.continuations()) checkIds(ids);
            checkIds(c.context());
            out.add(new Continuations.Score[c.continuations().size()]);
            for (int i = 0; i < c.continuations().size(); i++) {
                pieces.add(new Piece(r, i, c.input(i), c.context().length - 1, c.continuations().get(i)));
            }
        }
        pieces.sort(Comparator.comparingInt((Piece p) -> p.input().length));
        for (List<Piece> pass : passes(pieces)) {
            Continuations.Score[] scores = pass(pass);
            for (int i = 0; i < pass.size(); i++) out.get(pass.get(i).request())[pass.get(i).choice()] = scores[i];
        }
        return out;
    }

    /**
     * The sorted pieces cut into passes: as many as filling each up to {@link #TOKENS_PER_PASS} padded tokens takes,
     * then evened out by count (a last pass of two sequences after a full one would run its products at a size the
     * GPU does badly).
     */
    private static List<List<Piece>> passes(List<Piece> sorted) {
        int count = 0;
        for (int from = 0; from < sorted.size(); count++) {
            int to = from + 1;
            while (to < sorted.size() && (long) (to - from + 1) * sorted.get(to).input().length <= TOKENS_PER_PASS) to++;
            from = to;
        }
        List<List<Piece>> out = new ArrayList<>();
        int size = Math.ceilDiv(sorted.size(), Math.max(1, count));
        for (int from = 0; from < sorted.size(); from += size) out.add(sorted.subList(from, Math.min(sorted.size(), from + size)));
        return out;
    }

    private void checkIds(int[] ids) {
        for (int id : ids) {
            var wrong = gsat2r.core.model.BatchDecoder.checkId(id, vocab);
            if (wrong != null) throw wrong;
        }
    }

    /** One padded forward pass over {@code pass} (sorted by length: the last is the longest). */
    private Continuations.Score[] pass(List<Piece> pass) {
        int B = pass.size(), T = pass.getLast().input().length;
        int[] ids = new int[B * T];
        int R = 0;
        for (int b = 0; b < B; b++) {
            Piece p = pass.get(b);
            System.arraycopy(p.input(), 0, ids, b * T, p.input().length);
            R += p.targets().length;
        }
        int[] rows = new int[R], targets = new int[R], first = new int[B + 1];
        for (int b = 0, r = 0; b < B; b++) {
            Piece p = pass.get(b);
            first[b] = r;
            for (int j = 0; j < p.targets().length; j++, r++) {
                rows[r] = b * T + p.first() + j;
                targets[r] = p.targets()[j];
            }
            first[b + 1] = r;
        }
        try (DeviceBatch batch = DeviceBatch.ofIds(gpu, ids, B, T, vocab); DeviceBuffer n = normed.apply(batch);
             DeviceBuffer rowIds = gpu.upload(rows); DeviceBuffer gathered = gpu.allocate(type, (long) R * hidden)) {
            // The scored rows of the final norm's output, gathered as an embedding lookup of row numbers.
            Embedding.forward(gpu, gathered, rowIds, n, R, hidden, B * T);
            return scoreRows(gathered, targets, first, B);
        }
    }

    /** The continuations' scores from their gathered rows, the head applied a block of continuations at a time. */
    private Continuations.Score[] scoreRows(DeviceBuffer gathered, int[] targets, int[] first, int count) {
        Continuations.Score[] out = new Continuations.Score[count];
        int c0 = 0;
        while (c0 < count) {
            int c1 = c0 + 1;
            while (c1 < count && first[c1 + 1] - first[c0] <= ROWS_PER_BLOCK) c1++;
            int r0 = first[c0], rows = first[c1] - r0;
            int[] localFirst = new int[c1 - c0 + 1];
            for (int c = c0; c <= c1; c++) localFirst[c - c0] = first[c] - r0;
            try (DeviceBuffer logits = gpu.f32((long) rows * vocab); DeviceBuffer t = gpu.upload(Arrays.copyOfRange(targets, r0, r0 + rows));
                 DeviceBuffer f = gpu.upload(localFirst)) {
                Matmul.linearForward(gpu, logits, gathered.view((long) r0 * hidden, (long) rows * hidden), head, rows, hidden, vocab);
                Continuations.Score[] part = Scoring.continuations(gpu, logits, t, f, c1 - c0, rows, vocab);
                System.arraycopy(part, 0, out, c0, part.length);
            }
            c0 = c1;
        }
        return out;
    }
}
