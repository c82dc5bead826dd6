package gsat2r.core.model;

import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.testing.Students;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Continuations scored through a forked decoder (the context read once) match the same sums computed from
 * {@link LanguageModel#forward} over each context + continuation in full, for the demo teacher (KV cache)
 * and a hybrid GSA student (recurrent state and a sliding-window attention layer); tolerance 2e-5
 * relative (fp32 logits of two computation orders, summed in double).
 */
class ContinuationScorerTest {

    @TempDir
    Path tmp;

    @Test
    void forkedDecoderScoresMatchFullForwards() {
        try (LlamaModel teacher = LlamaModel.load(Path.of("..", "models", "kjv-llama"))) {
            check(teacher, teacher.vocabSize(), 1);
        }
        Path dir = Students.write(Students.hybridConfig(24), 3, tmp.resolve("hybrid"));
        try (GsaModel student = GsaModel.load(dir)) {
            check(student, Students.VOCAB, 2);
        }
    }

    private static void check(LanguageModel model, int vocab, long seed) {
        java.util.Random r = new java.util.Random(seed);
        List<Continuations> batch = List.of(
                new Continuations(ids(r, vocab, 100), List.of(ids(r, vocab, 30), ids(r, vocab, 7), ids(r, vocab, 1), ids(r, vocab, 30))),
                new Continuations(ids(r, vocab, 1), List.of(ids(r, vocab, 5))));
        List<Continuations.Score[]> got = model.scoreContinuations(batch);
        for (int b = 0; b < batch.size(); b++) {
            Continuations.Score[] expected = ContinuationScorer.byForward(model, batch.get(b));
            assertEquals(expected.length, got.get(b).length);
            for (int i = 0; i < expected.length; i++) {
                double e = expected[i].logLikelihood(), g = got.get(b)[i].logLikelihood();
                assertEquals(e, g, 2e-5 * Math.abs(e), "request " + b + " continuation " + i);
                assertEquals(expected[i].greedy(), got.get(b)[i].greedy());
            }
        }
        // A continuation of the model's own greedy tokens is greedy.
        int[] context = ids(r, vocab, 10);
        LanguageModel.Decoder d = model.newDecoder();
        int[] greedy = new int[4];
        float[] logits = d.prefill(context);
        for (int j = 0; j < 4; j++) logits = d.next(greedy[j] = ContinuationScorer.argmax(logits));
        assertEquals(List.of(true, false), Arrays.stream(model.scoreContinuations(List.of(new Continuations(context,
                List.of(greedy, new int[] {(greedy[0] + 1) % vocab})))).getFirst()).map(Continuations.Score::greedy).toList());
    }

    private static int[] ids(java.util.Random r, int vocab, int n) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(vocab);
        return ids;
    }
}
