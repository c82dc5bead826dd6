package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.tokenizer.TestTokenizers;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Recall prompts are what the tokenizer makes of their text (byte-level BPE of the demo teacher; the
 * sentencepiece-style byte-fallback BPE of the Mistral fixture), and the scorer gives an ideal in-context
 * copier full marks, a copier that forgets beyond a window less as the prompt outgrows it, and a model
 * that ignores the context none.
 */
class RecallTaskTest {

    static final Path MISTRAL = Path.of("..", "core", "src", "test", "resources", "fixtures", "hf-tiny-mistral");

    @Test
    void promptsAreExactlyTheTokensOfTheirText() {
        for (Path dir : List.of(TestModels.KJV, MISTRAL, TestTokenizers.dir(TestTokenizers.BYTE_LEVEL))) {
            try (Tokenizer tok = Tokenizer.load(dir)) {
                WordPool pool = WordPool.of(tok);
                System.out.printf("%s: %d single-token words%n", dir, pool.size());
                assertTrue(pool.size() >= 2 * RecallTask.MIN_PAIRS, dir + ": only " + pool.size() + " words");
                assertEquals(",", tok.decode(new int[] {pool.commaId()}));
                int[] start = Prompts.startTokens(tok);
                assertArrayEquals(tok.bosId().isPresent() ? new int[] {tok.bosId().getAsInt()} : new int[0], start);
                SplittableRandom rnd = new SplittableRandom(7);
                for (int pairs : new int[] {4, pool.size() / 2}) {
                    RecallTask.Prompt p = RecallTask.prompt(pool, start, pairs, rnd);
                    assertArrayEquals(tok.encode(p.text()), p.ids(), dir + ": " + p.text());
                    assertEquals(start.length + 6 * pairs - 1, p.ids().length);
                    checkStructure(p, pairs);
                }
            }
        }
    }

    /** Every key once in the pairs and once as a query, followed by its value each time; queries come after the pairs. */
    private static void checkStructure(RecallTask.Prompt p, int pairs) {
        int[] ids = p.ids();
        Set<Integer> keys = new HashSet<>();
        for (int q = 0; q < pairs; q++) {
            int at = p.queryPositions()[q];
            assertEquals(p.answers()[q], ids[at + 1], "the value follows the query");
            assertTrue(at > ids.length / 2, "queries come after the pairs");
            int first = -1;
            for (int i = 0; i < at; i++) if (ids[i] == ids[at]) first = first < 0 ? i : -2;
            assertTrue(first >= 0, "the key occurs exactly once before its query");
            assertEquals(p.answers()[q], ids[first + 1], "with the same value");
            keys.add(ids[at]);
        }
        assertEquals(pairs, keys.size(), "every key is queried once");
    }

    @Test
    void textNarrowsThePoolToWholeWords() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            WordPool all = WordPool.of(tok);
            String text = String.join(" ", Arrays.copyOf(all.words(), 100)) + ", zzyzx; Zion's don't";
            WordPool narrowed = WordPool.of(tok, List.of(text));
            assertEquals(100, narrowed.size(), "the first 100 words of the pool, nothing else");
            assertArrayEquals(Arrays.copyOf(all.ids(), 100), narrowed.ids());
            assertTrue(narrowed.source().contains("data"));
            assertEquals(all.size(), WordPool.of(tok, List.of("too few words here")).size(), "too few: the whole pool");
        }
    }

    @Test
    void anIdealCopierGetsEveryQueryAndAForgetfulOneFallsBehindWithThePairs() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            WordPool pool = WordPool.of(tok);
            int[] start = Prompts.startTokens(tok);
            int vocab = tok.vocabSize();
            RecallResult r = RecallTask.run(new TestModels.Induction(vocab, Integer.MAX_VALUE), new TestModels.Induction(vocab, 40),
                    pool, start, 200, 3, 11, Progress.silent());
            assertEquals(List.of(4, 8, 16, 32), r.points().stream().map(RecallResult.Point::pairs).toList(), "6n tokens fit 200");
            for (RecallResult.Point p : r.points()) {
                System.out.printf("pairs %d: ideal %.3f, window-40 copier %.3f (among values %.3f)%n", p.pairs(),
                        p.teacherAccuracy(), p.studentAccuracy(), p.studentAmongValues());
                assertEquals(1.0, p.teacherAccuracy());
                assertEquals(1.0, p.teacherAmongValues());
                assertEquals(3L * p.pairs(), p.queries());
            }
            // 4 pairs (24 tokens) fit a window of 40; at 32 pairs most keys lie further back than 40 tokens.
            assertEquals(1.0, r.points().getFirst().studentAccuracy());
            assertTrue(r.points().getLast().studentAccuracy() < 0.3, "forgetful copier at 32 pairs");
            assertTrue(r.points().get(2).studentAccuracy() < 1.0);
            // A model that ignores the context never names the value.
            RecallResult blind = RecallTask.run(new TestModels.Induction(vocab, 0), new TestModels.Induction(vocab, 0),
                    pool, start, 60, 2, 11, Progress.silent());
            blind.points().forEach(p -> assertEquals(0.0, p.teacherAccuracy()));
        }
    }

    @Test
    void theSameSeedGivesTheSamePrompts() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            WordPool pool = WordPool.of(tok);
            RecallResult a = RecallTask.run(new TestModels.Induction(4096, 10), new TestModels.Induction(4096, 30), pool,
                    new int[] {0}, 100, 2, 5, Progress.silent());
            RecallResult b = RecallTask.run(new TestModels.Induction(4096, 10), new TestModels.Induction(4096, 30), pool,
                    new int[] {0}, 100, 2, 5, Progress.silent());
            RecallResult c = RecallTask.run(new TestModels.Induction(4096, 10), new TestModels.Induction(4096, 30), pool,
                    new int[] {0}, 100, 2, 6, Progress.silent());
            assertEquals(a, b);
            assertTrue(!a.example().equals(c.example()), "another seed, other words");
        }
    }

    @Test
    void tooShortAContextOrTooFewWordsIsAClearError() {
        assertEquals(List.of(4, 8, 16), RecallTask.pairGrid(96, 1, 1000));
        assertEquals(List.of(4), RecallTask.pairGrid(96, 1, 15));
        T2rException e = assertThrows(T2rException.class, () -> RecallTask.pairGrid(20, 1, 1000));
        assertEquals("recall: --context 20 is too short; 4 pairs need 24 tokens", e.getMessage());
        e = assertThrows(T2rException.class, () -> RecallTask.pairGrid(2000, 1, 5));
        assertTrue(e.getMessage().contains("only 5 words"), e.getMessage());
    }
}
