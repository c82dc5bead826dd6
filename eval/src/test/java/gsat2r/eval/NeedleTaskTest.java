package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RULER-style prompts fill their length with haystack sentences, hold their facts in order at their depths,
 * and end where the answer's tokens follow; scoring counts a value when all its tokens are greedy, a prompt
 * when all its values are.
 */
class NeedleTaskTest {

    static final List<String> DATA = List.of("In the beginning God created the heaven and the earth. And the earth was without form, "
            + "and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.",
            "And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided the light from the darkness.");

    @Test
    void promptsFillTheirLengthAndHoldTheirFactsInOrder() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            WordPool pool = WordPool.of(tok, null);
            for (String task : NeedleTask.NAMES) {
                for (List<String> texts : java.util.Arrays.asList(null, DATA)) {
                    SplittableRandom rnd = new SplittableRandom(5);
                    NeedleTask.Question q = NeedleTask.question(task, pool, rnd);
                    double[] depths = rnd.doubles(q.facts().size()).sorted().toArray();
                    for (int length : new int[] {300, 700}) {
                        NeedleTask.Prompt p = NeedleTask.prompt(tok, q, NeedleTask.sentences(texts, length, rnd), depths, length);
                        assertTrue(p.length() <= length && p.length() > length - 40, task + ": " + p.length() + " of " + length);
                        assertArrayEquals(tok.encode(p.text()), Prompts.concat(p.prompt(), p.answer()), "the text's own tokens");
                        int at = -1;
                        for (String fact : q.facts()) {
                            int next = p.text().indexOf(fact, at + 1);
                            assertTrue(next > at, task + ": facts in order: " + fact);
                            at = next;
                        }
                        assertTrue(p.text().endsWith(q.question() + q.answer()));
                        assertEquals(q.values().size(), p.valueEnds().length);
                        assertEquals(p.answer().length, p.valueEnds()[p.valueEnds().length - 1]);
                        for (int v = 1; v < p.valueEnds().length; v++) assertTrue(p.valueEnds()[v] > p.valueEnds()[v - 1]);
                    }
                }
            }
            SplittableRandom rnd = new SplittableRandom(1);
            NeedleTask.Question q = NeedleTask.question("niah_single", pool, rnd);
            assertNull(NeedleTask.prompt(tok, q, NeedleTask.sentences(null, 40, rnd), new double[] {0.5}, 40), "nothing fits 40 tokens");
        }
    }

    @Test
    void theTasksAskWhatTheirFactsSay() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            WordPool pool = WordPool.of(tok, null);
            SplittableRandom rnd = new SplittableRandom(9);
            NeedleTask.Question single = NeedleTask.question("niah_single", pool, rnd);
            assertEquals(1, single.facts().size());
            assertTrue(single.facts().getFirst().endsWith(" is: " + single.values().getFirst() + "."));
            NeedleTask.Question multikey = NeedleTask.question("niah_multikey", pool, rnd);
            assertEquals(4, multikey.facts().size());
            assertEquals(1, multikey.values().size());
            assertEquals(4, multikey.facts().stream().map(f -> f.replaceAll(".* for (\\w+) is: .*", "$1")).distinct().count(), "four keys");
            String asked = multikey.question().replaceAll("(?s).*numbers for (\\w+) mentioned.*", "$1");
            assertTrue(multikey.facts().contains(" One of the special magic numbers for " + asked + " is: " + multikey.values().getFirst() + "."));
            NeedleTask.Question multivalue = NeedleTask.question("niah_multivalue", pool, rnd);
            assertEquals(4, multivalue.values().size());
            for (int i = 0; i < 4; i++) assertTrue(multivalue.facts().get(i).endsWith(" is: " + multivalue.values().get(i) + "."), "in order");
            NeedleTask.Question vt = NeedleTask.question("vt", pool, rnd);
            assertEquals(5, vt.values().size());
            String number = vt.facts().getFirst().replaceAll(" VAR \\w+ = (\\d+)\\.", "$1");
            assertTrue(vt.question().contains("assigned the value " + number + " in the text above"));
            for (int i = 1; i < 5; i++) assertEquals(" VAR " + vt.values().get(i) + " = VAR " + vt.values().get(i - 1) + ".", vt.facts().get(i));
            assertEquals(" " + String.join(" ", vt.values()), vt.answer());
        }
    }

    /** A model that writes the first {@code known} values of one prompt's answer and nothing else. */
    static LanguageModel knowing(NeedleTask.Prompt p, int known, int vocab) {
        int upTo = known == 0 ? 0 : p.valueEnds()[known - 1];
        return new LanguageModel() {
            @Override
            public int vocabSize() {
                return vocab;
            }

            @Override
            public float[][] forward(int[] ids) {
                throw new UnsupportedOperationException("the needle tasks decode");
            }

            @Override
            public Decoder newDecoder() {
                return new Decoder() {
                    int position;

                    @Override
                    public float[] prefill(int[] ids) {
                        position += ids.length;
                        return row();
                    }

                    @Override
                    public float[] next(int id) {
                        return prefill(new int[] {id});
                    }

                    @Override
                    public int position() {
                        return position;
                    }

                    float[] row() {
                        float[] r = new float[vocab];
                        int i = position - p.prompt().length;
                        r[i < upTo ? p.answer()[i] : (p.answer()[Math.min(i, p.answer().length - 1)] + 1) % vocab] = 5;
                        return r;
                    }
                };
            }
        };
    }

    @Test
    void aValueCountsWhenAllItsTokensAreRightAPromptWhenAllItsValuesAre() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            SplittableRandom rnd = new SplittableRandom(3);
            NeedleTask.Question q = NeedleTask.question("niah_multivalue", WordPool.of(tok, null), rnd);
            NeedleTask.Prompt p = NeedleTask.prompt(tok, q, NeedleTask.sentences(null, 400, rnd), new double[] {0.1, 0.3, 0.5, 0.7}, 400);
            for (int known = 0; known <= 4; known++) {
                double[] s = NeedleTask.score(knowing(p, known, tok.vocabSize()), p);
                assertEquals(known, s[0], "values right");
                assertEquals(4, s[1]);
                assertEquals(p.answer().length, s[3]);
            }
            assertTrue(NeedleTask.score(knowing(p, 4, tok.vocabSize()), p)[2] > NeedleTask.score(knowing(p, 1, tok.vocabSize()), p)[2]);
        }
    }

    @Test
    void aRunMeasuresEveryLengthAndABlindModelFindsNothing() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            TestModels.Induction blind = new TestModels.Induction(tok.vocabSize(), 0);
            NeedleResult r = NeedleTask.run("vt", blind, blind, tok, WordPool.of(tok, null), DATA, 1500, 2, 4, Progress.silent());
            assertEquals(List.of(1024, 1500), r.points().stream().map(NeedleResult.Point::length).toList());
            assertEquals("data", r.haystack());
            for (NeedleResult.Point p : r.points()) {
                assertEquals(0.0, p.teacher().accuracy());
                assertEquals(2, p.prompts());
                assertTrue(p.meanLength() <= p.length() && p.meanLength() > p.length() - 60, p.toString());
            }
            assertTrue(r.example().contains("VAR "));
            assertEquals(List.of(1024, 2048, 4096), NeedleTask.lengths(4096));
            assertEquals(List.of(1024, 2048, 3000), NeedleTask.lengths(3000));
            assertEquals(List.of(700), NeedleTask.lengths(700));
            T2rException e = assertThrows(T2rException.class, () -> NeedleTask.run("niah_multivalue", blind, blind, tok, WordPool.of(tok, null),
                    null, 60, 1, 0, Progress.silent()));
            assertTrue(e.getMessage().startsWith("niah_multivalue: --context 60 is too short for its prompt ("), e.getMessage());
            assertEquals(Arrays.asList(TaskSpec.Kind.NIAH_SINGLE, TaskSpec.Kind.VT),
                    TaskSpec.parse("niah_single,vt").stream().map(TaskSpec::kind).toList());
        }
    }
}
