package gsat2r.core.model.gsa;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.testing.Numerics;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decoding against the chunked forward: a hybrid student (GSA layers, a full-attention layer, a
 * sliding-window layer) over T = 170 tokens (three 64-token chunks), fed to its decoder token by
 * token, and in prefills of several lengths from a warm state; every position's logits within 1e-5
 * relative L2 of {@link GsaModel#forward(int[])}; the same with short convolutions (their last rows in the
 * state). The GSA state does not grow with the sequence.
 */
class StudentDecodingTest {
    static final double TOL = 1e-5;
    static final int T = 170;

    static GsaConfig hybrid() {
        return TestStudents.config(32, 4, 4, 2, 8, 1.0, 8, 48, 64, false, List.of(
                TestStudents.attention(List.of(1), 4, 2, false, null, null, null),
                TestStudents.attention(List.of(3), 4, 1, true, 24, null, null)));
    }

    /** The same student with short convolutions of 4 taps: their last rows carried from token to token. */
    static GsaConfig convolved() {
        return hybrid().withShortConv(4);
    }

    @Test
    void tokenByTokenDecodingMatchesTheChunkedForward() {
        tokenByToken(hybrid());
        tokenByToken(convolved());
    }

    private static void tokenByToken(GsaConfig c) {
        GsaModel m = TestStudents.random(c, 41);
        int[] ids = TestStudents.randomIds(T, 64, 42);
        float[] full = Numerics.flatten(m.forward(ids));
        LanguageModel.Decoder dec = m.newDecoder();
        float[][] rows = new float[T][];
        rows[0] = dec.prefill(new int[] {ids[0]});
        for (int t = 1; t < T; t++) rows[t] = dec.next(ids[t]);
        assertEquals(T, dec.position());
        double err = Numerics.relL2(Numerics.flatten(rows), full);
        System.out.printf("token-by-token decoding vs chunked forward, T=%d, %d taps: %.2e%n", T, c.shortConv(), err);
        Numerics.assertRelL2("decoded logits", Numerics.flatten(rows), full, TOL);
    }

    @Test
    void prefillsFromAWarmStateMatchTheChunkedForward() {
        warmPrefills(hybrid());
        warmPrefills(convolved());
    }

    private static void warmPrefills(GsaConfig c) {
        GsaModel m = TestStudents.random(c, 43);
        int[] ids = TestStudents.randomIds(T, 64, 44);
        float[][] full = m.forward(ids);
        GsaModel.StudentDecoder dec = m.newDecoder();
        int[] cuts = {70, 71, 137, 150, T};     // prefills of 70, 1, 66, 13 tokens, then 20 steps
        int from = 0;
        for (int cut : cuts) {
            float[] last;
            if (cut == T) {
                last = null;
                for (int t = from; t < T; t++) last = dec.next(ids[t]);
            } else {
                last = dec.prefill(Arrays.copyOfRange(ids, from, cut));
            }
            Numerics.assertRelL2("logits after " + cut + " tokens", last, full[cut - 1], TOL);
            from = cut;
        }
    }

    @Test
    void recurrentStateHasAConstantSize() {
        GsaConfig c = TestStudents.config(32, 2, 4, 2, 8, 1.0, 8, 48, 64, true, List.of());
        GsaModel m = TestStudents.random(c, 45);
        GsaModel.StudentDecoder dec = m.newDecoder();
        dec.prefill(TestStudents.randomIds(10, 64, 46));
        long early = dec.stateBytes();
        for (int id : TestStudents.randomIds(300, 64, 47)) dec.next(id);
        assertEquals(early, dec.stateBytes());
        assertEquals(c.recurrentStateBytes(), early);
        assertTrue(early > 0);
    }

    /** Several sequences stepped together carry each one's convolution rows: the same bits as stepping each alone. */
    @Test
    void batchedStepsKeepEachSequencesConvolutionRows() {
        GsaModel m = TestStudents.random(convolved(), 47);
        int[][] prompts = {TestStudents.randomIds(9, 64, 48), TestStudents.randomIds(3, 64, 49)};
        List<GsaModel.StudentDecoder> together = new java.util.ArrayList<>(), alone = new java.util.ArrayList<>();
        for (int[] p : prompts) {
            GsaModel.StudentDecoder a = m.newDecoder(), b = m.newDecoder();
            a.prefill(p);
            b.prefill(p);
            together.add(a);
            alone.add(b);
        }
        int[] next = TestStudents.randomIds(2 * 6, 64, 50);
        for (int s = 0; s < 6; s++) {
            int[] ids = {next[2 * s], next[2 * s + 1]};
            var step = m.batchDecoder().next(together, ids);
            for (int i = 0; i < 2; i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(alone.get(i).next(ids[i]), step.logits()[i], "step " + s + " seq " + i);
            }
        }
    }
}
