package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Multiple choice as lm-evaluation-harness scores it, against log-likelihoods worked out in the test
 * from the choices' own tokens, with a model whose next-token distribution is fixed (a unigram model),
 * so that a choice's log-likelihood is a sum over its tokens that the test can compute alone.
 */
class MultipleChoiceTaskTest {

    @TempDir
    Path tmp;

    /** logits[v] = 3 sin(0.1 v), whatever came before. */
    static final class Unigram implements LanguageModel {
        final int vocab;

        Unigram(int vocab) {
            this.vocab = vocab;
        }

        float[] row() {
            float[] r = new float[vocab];
            for (int v = 0; v < vocab; v++) r[v] = (float) (3 * Math.sin(0.1 * v));
            return r;
        }

        @Override
        public int vocabSize() {
            return vocab;
        }

        @Override
        public float[][] forward(int[] ids) {
            float[][] out = new float[ids.length][];
            for (int t = 0; t < ids.length; t++) out[t] = row();
            return out;
        }

        @Override
        public Decoder newDecoder() {
            throw new UnsupportedOperationException();
        }

        double logProb(int id) {
            float[] r = row();
            double sum = 0;
            for (float v : r) sum += Math.exp(v);
            return r[id] - Math.log(sum);
        }
    }

    @Test
    void theContinuationIsTheDelimiterAndTheChoiceAndTrailingSpacesMoveToIt() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            int[] expected = tok.encodePlain(" Let there be light");
            int[] whole = tok.encode("And God said Let there be light");
            // "said" + " Let…", and "said " + "Let…" (whose space moves to the continuation), tokenize alike.
            for (String[] pair : new String[][] {{"And God said", " Let there be light"}, {"And God said ", "Let there be light"}}) {
                MultipleChoiceTask.Request r = MultipleChoiceTask.request(tok, pair[0], pair[1], 100);
                assertArrayEquals(expected, r.continuation(), "'" + pair[0] + "'");
                assertArrayEquals(Arrays.copyOf(whole, whole.length - 1), r.input(), "BOS, context, continuation but its last token");
                assertEquals(whole.length - 1 - expected.length, r.firstScored(), "the logits before the continuation's first token");
            }
            // Longer than the context: the oldest tokens go, the continuation's positions stay right.
            MultipleChoiceTask.Request cut = MultipleChoiceTask.request(tok, "And God said", " Let there be light", 6);
            assertArrayEquals(Arrays.copyOfRange(whole, whole.length - 1 - 6, whole.length - 1), cut.input());
            assertEquals(6 - expected.length, cut.firstScored());
            assertThrows(T2rException.class, () -> MultipleChoiceTask.request(tok, "And God said", " Let there be light", 2));
        }
    }

    @Test
    void accAndAccNormMatchLogLikelihoodsSummedInTheTest() throws IOException {
        String[][] items = {
                {"In the beginning", "God created the heaven", "a", "the waters were gathered together unto one place", "0"},
                {"And the earth was", "without form", "void and darkness upon the face of the deep", "x", "1"},
                {"Blessed are", "the meek", "they that mourn for they shall be comforted", "the poor in spirit", "2"},
                {"The LORD is my", "shepherd", "light and my salvation", "rock", "0"},
                {"Jesus", "wept", "answered and said unto them", "went up into a mountain", "1"},
        };
        Path file = tmp.resolve("task.jsonl");
        StringBuilder jsonl = new StringBuilder();
        for (String[] it : items) {
            jsonl.append(String.format("{\"context\": \"%s\", \"choices\": [\"%s\", \"%s\", \"%s\"], \"label\": %s}%n",
                    it[0], it[1], it[2], it[3], it[4]));
        }
        Files.writeString(file, jsonl + "\n");                                  // a blank line is skipped
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            Unigram teacher = new Unigram(tok.vocabSize());
            int acc = 0, accNorm = 0;
            for (String[] it : items) {
                double[] ll = new double[3], norm = new double[3];
                for (int c = 0; c < 3; c++) {
                    for (int id : tok.encodePlain(" " + it[1 + c])) ll[c] += teacher.logProb(id);
                    norm[c] = ll[c] / it[1 + c].length();
                }
                int label = Integer.parseInt(it[4]);
                if (argmax(ll) == label) acc++;
                if (argmax(norm) == label) accNorm++;
            }
            assertNotEquals(acc, accNorm, "the items tell acc and acc_norm apart");
            McResult r = MultipleChoiceTask.run(teacher, teacher, tok, file, 512, Progress.silent());
            System.out.printf("acc %.2f, acc_norm %.2f%n", r.teacher().acc(), r.teacher().accNorm());
            assertEquals(items.length, r.items());
            assertEquals(acc / 5.0, r.teacher().acc(), 1e-15);
            assertEquals(accNorm / 5.0, r.teacher().accNorm(), 1e-15);
            assertEquals(Math.sqrt(acc / 5.0 * (1 - acc / 5.0) / 4), r.teacher().accStderr(), 1e-15);
            assertEquals(r.teacher(), r.student());
            assertEquals(1.0, r.agreement());
        }
    }

    private static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    @Test
    void theShippedExampleTaskReads() {
        List<MultipleChoiceTask.Item> items = MultipleChoiceTask.read(Path.of("..", "data", "kjv", "next-sentence.jsonl"));
        assertEquals(200, items.size());
        for (MultipleChoiceTask.Item it : items) {
            assertEquals(4, it.choices().size());
            assertEquals(" ", it.delimiter());
        }
        long[] labels = new long[4];
        items.forEach(it -> labels[it.label()]++);
        for (long n : labels) assertTrue(n > 30, "the right answer is spread over the positions: " + Arrays.toString(labels));
    }

    @Test
    void badLinesNameTheFileAndLine() throws IOException {
        Path file = tmp.resolve("bad.jsonl");
        String good = "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"label\": 1}\n";
        List<String[]> cases = List.of(
                new String[] {"{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"label\": 2}", "\"label\" must be the index of the right choice, 0..1, not 2"},
                new String[] {"{\"context\": \"a\", \"choices\": [\"b\"], \"label\": 0}", "\"choices\" must be a list of at least 2 strings"},
                new String[] {"{\"choices\": [\"b\", \"c\"], \"label\": 0}", "\"context\" must be a string"},
                new String[] {"{\"context\": \"a\", \"choices\": [\"b\", 3], \"label\": 0}", "every choice must be a non-empty string"},
                new String[] {"[1, 2]", "not a JSON object"},
                new String[] {"{\"context\": ", "not valid JSON"});
        for (String[] c : cases) {
            Files.writeString(file, good + c[0] + "\n");
            T2rException e = assertThrows(T2rException.class, () -> MultipleChoiceTask.read(file));
            assertEquals(file + ":2: " + c[1], e.getMessage().replaceAll(" \\(.*\\)$", ""), c[0]);
        }
        Files.writeString(file, "\n\n");
        assertEquals(file + ": no items (one JSON object a line: context, choices, label)",
                assertThrows(T2rException.class, () -> MultipleChoiceTask.read(file)).getMessage());
    }
}
