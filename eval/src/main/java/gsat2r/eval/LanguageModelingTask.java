package gsat2r.eval;

import gsat2r.core.cpu.Parallel;
import gsat2r.core.model.LanguageModel;

import java.util.ArrayList;
import java.util.List;

/**
 * Language modelling on held-out text: perplexity of teacher and student on the same tokens, the mean
 * {@code KL(teacher ‖ student)} of their next-token distributions, how often their top-1 tokens agree,
 * and all of these by position in the context window.
 *
 * <p><b>Windows.</b> Documents never cross: each is scored on its own. A document of n tokens (BOS
 * included) that is longer than the context C is cut into windows of C tokens that overlap by one
 * token, so that every token after the first is predicted exactly once: window w runs the model over
 * tokens {@code [w(C−1), w(C−1)+C)} and scores the predictions of the tokens after its first. The
 * first token of a later window is thus predicted by the window before, and starts its own window
 * without earlier context (what lm-evaluation-harness's rolling log-likelihood does with a context of
 * one token). Perplexity is {@code exp} of the mean negative log-likelihood over all predicted tokens.
 *
 * <p><b>By position.</b> A prediction made after reading c tokens of its window (c = 1 for the first
 * token of a window) falls in the bucket {@code [2^k, 2^(k+1))} that holds c.
 */
final class LanguageModelingTask {
    private LanguageModelingTask() {}

    /** An input range {@code [start, end)} of a document's tokens. */
    record Window(int document, int start, int end) {
        int predictions() {
            return end - start - 1;
        }
    }

    /**
     * The windows of documents of the given token counts: at most {@code context} tokens each, overlapping
     * by one, together predicting every token after the first of each document exactly once. Documents
     * of fewer than two tokens predict nothing and have no window.
     */
    static List<Window> windows(int[] documentLengths, int context) {
        if (context < 2) throw new IllegalArgumentException("a window needs at least 2 tokens, context is " + context);
        List<Window> out = new ArrayList<>();
        for (int d = 0; d < documentLengths.length; d++) {
            int n = documentLengths[d];
            for (int start = 0; start + 1 < n; start += context - 1) {
                out.add(new Window(d, start, Math.min(n, start + context)));
            }
        }
        return out;
    }

    /** The documents' first tokens, cut so that together they predict at most {@code maxTokens} tokens. */
    static List<int[]> limit(List<int[]> documents, long maxTokens) {
        List<int[]> out = new ArrayList<>();
        long left = maxTokens;
        for (int[] doc : documents) {
            if (left <= 0) break;
            if (doc.length < 2) continue;
            int keep = (int) Math.min(doc.length, left + 1);
            out.add(keep == doc.length ? doc : java.util.Arrays.copyOf(doc, keep));
            left -= keep - 1;
        }
        return out;
    }

    /** Tokenized documents; {@code leftOut}: the data had more text than was tokenized. */
    record Data(List<int[]> documents, boolean leftOut) {}

    static LmResult run(LanguageModel teacher, LanguageModel student, Data data, int context, long maxTokens,
                        Progress progress) {
        List<int[]> allDocuments = data.documents();
        List<int[]> documents = limit(allDocuments, maxTokens);
        int[] lengths = documents.stream().mapToInt(d -> d.length).toArray();
        List<Window> windows = windows(lengths, context);
        long total = windows.stream().mapToLong(Window::predictions).sum();
        long available = allDocuments.stream().mapToLong(d -> Math.max(0, d.length - 1)).sum();
        if (total == 0) throw new gsat2r.core.T2rException("the data has no text to score (every document is empty)");

        Sums all = new Sums();
        List<Sums> buckets = new ArrayList<>();
        Progress.Task task = progress.start("lm", total, "tokens");
        for (Window w : windows) {
            int[] ids = java.util.Arrays.copyOfRange(documents.get(w.document()), w.start(), w.end());
            float[][] t = teacher.forward(ids);
            float[][] s = student.forward(ids);
            int rows = ids.length - 1;
            double[] tNll = new double[rows], sNll = new double[rows], kl = new double[rows];
            boolean[] agree = new boolean[rows];
            Parallel.forRange(rows, 8, (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    double tLse = TokenMath.logSumExp(t[r]), sLse = TokenMath.logSumExp(s[r]);
                    int target = ids[r + 1];
                    tNll[r] = tLse - t[r][target];
                    sNll[r] = sLse - s[r][target];
                    kl[r] = TokenMath.kl(t[r], tLse, s[r], sLse);
                    agree[r] = TokenMath.argmax(t[r]) == TokenMath.argmax(s[r]);
                }
            });
            for (int r = 0; r < rows; r++) {                  // summed in order: the same totals on any machine
                int seen = r + 1;                             // tokens of the window read before predicting
                all.add(seen, tNll[r], sNll[r], kl[r], agree[r]);
                int bucket = 31 - Integer.numberOfLeadingZeros(seen);
                while (buckets.size() <= bucket) buckets.add(new Sums());
                buckets.get(bucket).add(seen, tNll[r], sNll[r], kl[r], agree[r]);
            }
            task.advance(rows, 2L * ids.length);
        }
        task.finish();

        List<LmResult.PositionBucket> byPosition = new ArrayList<>();
        for (int k = 0; k < buckets.size(); k++) {
            Sums b = buckets.get(k);
            if (b.tokens == 0) continue;
            byPosition.add(new LmResult.PositionBucket(1 << k, Math.min((1 << (k + 1)) - 1, context - 1), b.tokens,
                    b.seenSum / b.tokens, b.kl / b.tokens, (double) b.agree / b.tokens,
                    b.teacherNll / b.tokens, b.studentNll / b.tokens));
        }
        int windowed = (int) java.util.stream.IntStream.of(lengths).filter(n -> n > context).count();
        return new LmResult(context, documents.size(), windowed, windows.size(), total, data.leftOut() || available > total,
                all.teacherNll / total, Math.exp(all.teacherNll / total),
                all.studentNll / total, Math.exp(all.studentNll / total),
                all.kl / total, (double) all.agree / total, byPosition);
    }

    /** Running sums over predicted tokens. */
    private static final class Sums {
        long tokens, agree;
        double teacherNll, studentNll, kl, seenSum;

        void add(int seen, double tNll, double sNll, double klValue, boolean agreeValue) {
            tokens++;
            seenSum += seen;
            teacherNll += tNll;
            studentNll += sNll;
            kl += klValue;
            if (agreeValue) agree++;
        }
    }
}
