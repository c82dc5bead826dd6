package gsat2r.eval;

import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.llama.LlamaModel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The language-modelling scorer against an independent computation from {@code forward(ids)} logits
 * (plain double loops, windows worked out token by token), on transformers' tiny Llama fixture.
 * Tolerance: 1e-12 relative (the same fp32 logits, summed in double in another order).
 */
class LanguageModelingTaskTest {

    static final double TOL = 1e-12;

    @Test
    void windowsPredictEveryTokenAfterTheFirstExactlyOnceWithinItsDocument() {
        int[] lengths = {1, 2, 5, 9, 10, 0, 31};
        for (int context : new int[] {2, 3, 4, 7, 64}) {
            List<LanguageModelingTask.Window> windows = LanguageModelingTask.windows(lengths, context);
            int[][] predicted = new int[lengths.length][];
            for (int d = 0; d < lengths.length; d++) predicted[d] = new int[lengths[d]];
            for (LanguageModelingTask.Window w : windows) {
                assertTrue(w.end() - w.start() <= context, "window longer than the context: " + w);
                assertTrue(w.end() <= lengths[w.document()], "window crosses its document's end: " + w);
                assertTrue(w.predictions() >= 1, w.toString());
                for (int i = w.start() + 1; i < w.end(); i++) predicted[w.document()][i]++;
            }
            for (int d = 0; d < lengths.length; d++) {
                for (int i = 0; i < lengths[d]; i++) {
                    assertEquals(i == 0 ? 0 : 1, predicted[d][i], "context " + context + ", document " + d + ", token " + i);
                }
            }
        }
        assertEquals(List.of(new LanguageModelingTask.Window(0, 0, 4), new LanguageModelingTask.Window(0, 3, 7),
                new LanguageModelingTask.Window(0, 6, 9)), LanguageModelingTask.windows(new int[] {9}, 4));
    }

    @Test
    void maxTokensCutsTheDocumentsInOrder() {
        List<int[]> docs = List.of(new int[] {0, 1, 2, 3}, new int[] {5}, new int[] {0, 7, 8, 9, 10});
        List<int[]> cut = LanguageModelingTask.limit(docs, 5);
        assertEquals(2, cut.size());
        assertArrayEquals(new int[] {0, 1, 2, 3}, cut.get(0));
        assertArrayEquals(new int[] {0, 7, 8}, cut.get(1), "3 + 2 predicted tokens");
    }

    /** NLL of every predicted token of each document, computed from scratch with the windows spelled out per token. */
    private static double[] referenceNll(LanguageModel m, List<int[]> docs, int context) {
        List<Double> out = new ArrayList<>();
        for (int[] doc : docs) {
            for (int i = 1; i < doc.length; i++) {
                int start = (i - 1) / (context - 1) * (context - 1);           // the window whose inputs end before i
                int end = Math.min(doc.length, start + context);
                float[] row = m.forward(java.util.Arrays.copyOfRange(doc, start, end))[i - 1 - start];
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (float v : row) max = Math.max(max, v);
                for (float v : row) sum += Math.exp(v - max);
                out.add(max + Math.log(sum) - row[doc[i]]);
            }
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static List<int[]> randomDocs(int vocab, long seed, int... lengths) {
        Random rnd = new Random(seed);
        List<int[]> docs = new ArrayList<>();
        for (int n : lengths) {
            int[] d = new int[n];
            d[0] = 1;                                                        // the fixture's BOS
            for (int i = 1; i < n; i++) d[i] = rnd.nextInt(vocab);
            docs.add(d);
        }
        return docs;
    }

    @Test
    void perplexityIsExpOfTheMeanNllFromForwardLogits() {
        LlamaModel m = LlamaModel.load(TestModels.HF_TINY_LLAMA);
        List<int[]> docs = randomDocs(m.vocabSize(), 1, 40, 7, 33);
        for (int context : new int[] {64, 16}) {                             // whole documents; then windows
            double[] nll = referenceNll(m, docs, context);
            double mean = java.util.Arrays.stream(nll).sum() / nll.length;
            LmResult r = LanguageModelingTask.run(m, m, new LanguageModelingTask.Data(docs, false), context, 1000, Progress.silent());
            System.out.printf("context %d: perplexity %.6f, reference %.6f, rel err %.1e%n", context, r.teacherPerplexity(),
                    Math.exp(mean), Math.abs(r.teacherPerplexity() / Math.exp(mean) - 1));
            assertEquals(nll.length, r.tokens());
            assertEquals(mean, r.teacherNll(), TOL * mean);
            assertEquals(Math.exp(mean), r.teacherPerplexity(), TOL * Math.exp(mean));
            assertEquals(context == 64 ? 0 : 2, r.documentsWindowed());
            assertEquals(context == 64 ? 3 : 3 + 2 + 2, r.windows());
            assertFalse(r.truncated());
        }
    }

    @Test
    void aModelAgainstItselfHasKlZeroAndFullAgreement() {
        LlamaModel teacher = LlamaModel.load(TestModels.HF_TINY_LLAMA), again = LlamaModel.load(TestModels.HF_TINY_LLAMA);
        LmResult r = LanguageModelingTask.run(teacher, again, new LanguageModelingTask.Data(randomDocs(256, 2, 50, 20), false),
                32, 1000, Progress.silent());
        assertEquals(0.0, r.kl());
        assertEquals(1.0, r.top1Agreement());
        assertEquals(r.teacherPerplexity(), r.studentPerplexity());
        for (LmResult.PositionBucket b : r.byPosition()) {
            assertEquals(0.0, b.kl());
            assertEquals(1.0, b.top1Agreement());
        }
    }

    @Test
    void klAgreementAndBucketsMatchAnIndependentComputation() {
        LlamaModel teacher = LlamaModel.load(TestModels.HF_TINY_LLAMA);
        // A student that is close but not equal: sharper, and with a tilt that moves some argmaxes.
        LanguageModel student = TestModels.transformed(teacher, row -> {
            float[] out = new float[row.length];
            for (int v = 0; v < row.length; v++) out[v] = 1.5f * row[v] + 1.5f * (float) Math.sin(0.37 * v);
            return out;
        });
        List<int[]> docs = randomDocs(256, 3, 45, 12);
        int context = 20;
        LmResult r = LanguageModelingTask.run(teacher, student, new LanguageModelingTask.Data(docs, false), context, 1000, Progress.silent());

        double kl = 0, agree = 0, n = 0;
        double[] bucketKl = new double[8], bucketTokens = new double[8];
        for (int[] doc : docs) {
            for (int i = 1; i < doc.length; i++) {
                int start = (i - 1) / (context - 1) * (context - 1), end = Math.min(doc.length, start + context);
                int[] window = java.util.Arrays.copyOfRange(doc, start, end);
                float[] t = teacher.forward(window)[i - 1 - start], s = student.forward(window)[i - 1 - start];
                double[] p = softmax(t), q = softmax(s);
                double k = 0;
                for (int v = 0; v < p.length; v++) k += p[v] * Math.log(p[v] / q[v]);
                kl += k;
                agree += argmax(p) == argmax(q) ? 1 : 0;
                n++;
                int seen = i - start;                                       // tokens of the window read
                int bucket = (int) Math.floor(Math.log(seen) / Math.log(2) + 1e-9);
                bucketKl[bucket] += k;
                bucketTokens[bucket]++;
            }
        }
        System.out.printf("KL %.6f (reference %.6f), agreement %.4f (reference %.4f)%n", r.kl(), kl / n, r.top1Agreement(), agree / n);
        assertTrue(kl / n > 0.01, "the stand-in student differs");
        assertTrue(agree / n < 1, "and disagrees somewhere");
        assertEquals(kl / n, r.kl(), 1e-9 * kl / n);
        assertEquals(agree / n, r.top1Agreement(), 0.0);
        for (LmResult.PositionBucket b : r.byPosition()) {
            int k = Integer.numberOfTrailingZeros(b.contextFrom());
            assertEquals(bucketTokens[k], b.tokens(), "tokens in bucket " + b.contextFrom());
            assertEquals(bucketKl[k] / bucketTokens[k], b.kl(), 1e-9 * b.kl(), "KL of bucket " + b.contextFrom());
            assertTrue(b.meanContext() >= b.contextFrom() && b.meanContext() <= b.contextTo());
        }
        assertEquals(n, r.byPosition().stream().mapToLong(LmResult.PositionBucket::tokens).sum());
    }

    static double[] softmax(float[] row) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float v : row) max = Math.max(max, v);
        double[] p = new double[row.length];
        for (int v = 0; v < row.length; v++) sum += p[v] = Math.exp(row[v] - max);
        for (int v = 0; v < row.length; v++) p[v] /= sum;
        return p;
    }

    static int argmax(double[] p) {
        int best = 0;
        for (int v = 1; v < p.length; v++) if (p[v] > p[best]) best = v;
        return best;
    }
}
