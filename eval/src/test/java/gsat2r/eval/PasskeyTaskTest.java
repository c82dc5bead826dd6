package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Passkey prompts fill their length, hide the key where the depth says, and end where the key's tokens
 * follow; an ideal copier retrieves every key, a copier that forgets beyond a window retrieves only
 * keys hidden near the question, and a context-blind model none.
 */
class PasskeyTaskTest {

    @Test
    void promptsFillTheirLengthAndHideTheKeyAtTheDepth() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            int perRepeat = tok.encodePlain(PasskeyTask.FILLER.repeat(8)).length / 8;
            for (int length : new int[] {256, 700}) {
                int previousNeedle = -1;
                for (double depth : PasskeyTask.DEPTHS) {
                    PasskeyTask.Prompt p = PasskeyTask.prompt(tok, 52817, depth, length);
                    assertTrue(p.length() <= length, "fits: " + p.length());
                    assertTrue(p.length() > length - 2 * perRepeat, "fills: " + p.length() + " of " + length);
                    assertArrayEquals(tok.encode(p.text()), concat(p.prompt(), p.answer()), "prompt and answer are the text's tokens");
                    assertEquals("52817", tok.decode(p.answer()).strip());
                    assertTrue(p.text().endsWith(PasskeyTask.QUESTION + " 52817"));
                    int needle = p.text().indexOf("The pass key is 52817");
                    assertTrue(needle > previousNeedle, "deeper with the depth");
                    previousNeedle = needle;
                }
            }
            assertNull(PasskeyTask.prompt(tok, 52817, 0.5, 20), "nothing fits 20 tokens");
        }
    }

    private static int[] concat(int[] a, int[] b) {
        return Prompts.concat(a, b);
    }

    @Test
    void lengthsRunFrom256ToTheContext() {
        assertEquals(List.of(256, 512, 1024, 2048), PasskeyTask.lengths(2048));
        assertEquals(List.of(256, 512, 1000), PasskeyTask.lengths(1000));
        assertEquals(List.of(200), PasskeyTask.lengths(200));
    }

    @Test
    void anIdealCopierRetrievesEveryKeyAForgetfulOneOnlyNearTheQuestion() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            int vocab = tok.vocabSize();
            PasskeyResult r = PasskeyTask.run(new TestModels.Induction(vocab, Integer.MAX_VALUE), new TestModels.Induction(vocab, 60),
                    tok, 512, 5, 3, Progress.silent());
            assertEquals(List.of(256, 512), r.points().stream().map(PasskeyResult.Point::length).toList());
            for (PasskeyResult.Point p : r.points()) {
                System.out.printf("length %d (%.0f): ideal %.2f, window-60 %.2f by depth %s%n", p.length(), p.meanLength(),
                        p.teacher().accuracy(), p.student().accuracy(), p.student().accuracyByDepth());
                assertEquals(1.0, p.teacher().accuracy());
                assertEquals(1.0, p.teacher().tokenAccuracy());
                assertEquals(1.0, p.teacher().firstTokenAccuracy());
                assertEquals(1.0, p.teacher().laterTokenAccuracy());
                assertEquals(p.student().accuracy(), p.student().firstTokenAccuracy(), 1e-12,
                        "the window-60 copier finds exactly the passkeys it solves");
                List<Double> byDepth = p.student().accuracyByDepth();
                assertEquals(0.0, byDepth.getFirst(), "a key at the start lies beyond 60 tokens");
                assertEquals(1.0, byDepth.getLast(), "a key just before the question does not");
                for (int d = 1; d < byDepth.size(); d++) assertTrue(byDepth.get(d) >= byDepth.get(d - 1), "nearer is easier");
                double mean = byDepth.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
                assertEquals(mean, p.student().accuracy(), 1e-12, "one prompt per depth");
                assertTrue(p.teacher().answerLogProb() > p.student().answerLogProb());
                assertEquals(5, p.answers().size(), "one answer a prompt");
                for (PasskeyResult.Answer a : p.answers()) {
                    assertEquals(" " + a.passkey(), String.join("", a.teacher()), "the ideal copier answers the passkey");
                }
                PasskeyResult.Answer first = p.answers().getFirst(), last = p.answers().getLast();
                assertEquals(List.of(0.0, 1.0), List.of(first.depth(), last.depth()));
                assertTrue(!(" " + first.passkey()).equals(String.join("", first.student())), "the forgetful one misses the first key");
                assertEquals(" " + last.passkey(), String.join("", last.student()), "and answers the last");
            }
            PasskeyResult blind = PasskeyTask.run(new TestModels.Induction(vocab, 0), new TestModels.Induction(vocab, 0),
                    tok, 256, 5, 3, Progress.silent());
            assertEquals(0.0, blind.points().getFirst().teacher().accuracy());
            assertEquals(0.0, blind.points().getFirst().teacher().firstTokenAccuracy(), "a copier that sees nothing finds nothing");
        }
    }

    @Test
    void theFirstTokenAndTheLaterOnesAreScoredApart() {
        PasskeyTask.Tally tally = new PasskeyTask.Tally();
        tally.add(0, new PasskeyTask.Scored(new int[] {1, 2, 3}, new int[] {9, 2, 3}, -3));     // misses the start, copies on
        tally.add(1, new PasskeyTask.Scored(new int[] {4, 5}, new int[] {4, 0}, -2));           // finds it, does not copy on
        PasskeyResult.Score s = tally.score();
        assertEquals(0.0, s.accuracy());
        assertEquals(3 / 5.0, s.tokenAccuracy(), 1e-12);
        assertEquals(0.5, s.firstTokenAccuracy(), 1e-12);
        assertEquals(2 / 3.0, s.laterTokenAccuracy(), 1e-12);
        assertEquals(-1.0, s.answerLogProb(), 1e-12);
        PasskeyTask.Tally oneToken = new PasskeyTask.Tally();
        oneToken.add(0, new PasskeyTask.Scored(new int[] {7}, new int[] {7}, -0.1));
        assertNull(oneToken.score().laterTokenAccuracy(), "no later tokens to score");
        assertEquals(1.0, oneToken.score().firstTokenAccuracy());
    }

    @Test
    void aContextTooShortForThePromptIsAClearError() {
        try (Tokenizer tok = Tokenizer.load(TestModels.KJV)) {
            TestModels.Induction m = new TestModels.Induction(tok.vocabSize(), 10);
            T2rException e = assertThrows(T2rException.class, () -> PasskeyTask.run(m, m, tok, 40, 1, 0, Progress.silent()));
            assertTrue(e.getMessage().startsWith("passkey: --context 40 is too short for the passkey prompt ("), e.getMessage());
        }
    }
}
