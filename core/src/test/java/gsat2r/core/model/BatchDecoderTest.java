package gsat2r.core.model;

import gsat2r.core.gsa.GsaState;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.testing.Fixtures;
import gsat2r.core.testing.Students;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batched decoding against the independent reference, each decoder's own {@code next}: the student's and the
 * teacher's batched steps must give the same logits and leave the same states, bit for bit (the same arithmetic
 * row for row), while sequences of different lengths join and leave between steps.
 */
class BatchDecoderTest {

    @TempDir
    Path tmp;

    @Test
    void gsaStudentStepsEqualEachDecoderAlone() {
        GsaModel m = Students.random(Students.gsaConfig(), 11);
        checkAgainstAlone(m, 5);
    }

    @Test
    void hybridStudentsWithWindowedAndFullAttentionLayers() {
        checkAgainstAlone(Students.random(Students.hybridConfig(24), 12), 5);
        checkAgainstAlone(Students.random(Students.hybridConfig(null), 13), 5);
    }

    @Test
    void llamaAndMistralTeachers() {
        checkAgainstAlone(LlamaModel.load(Fixtures.copy("hf-tiny-llama", tmp.resolve("llama"))), 5);
        checkAgainstAlone(LlamaModel.load(Fixtures.copy("hf-tiny-mistral", tmp.resolve("mistral"))), 5);  // sliding window
    }

    @Test
    void theDefaultStepsEachDecoder() {
        GsaModel m = Students.random(Students.gsaConfig(), 14);
        LanguageModel plain = new LanguageModel() {            // a model without a batched step of its own
            public int vocabSize() {
                return m.vocabSize();
            }

            public float[][] forward(int[] ids) {
                return m.forward(ids);
            }

            public Decoder newDecoder() {
                return m.newDecoder();
            }
        };
        checkAgainstAlone(plain, 5);
    }

    @Test
    void aWrongSequenceFailsAloneAndTheOthersAreStepped() {
        GsaModel m = Students.random(Students.hybridConfig(24), 15), other = Students.random(Students.gsaConfig(), 16);
        for (LanguageModel model : List.of(m, LlamaModel.load(Fixtures.copy("hf-tiny-llama", tmp.resolve("llama"))))) {
            LanguageModel.Decoder good = model.newDecoder(), alone = model.newDecoder(), outside = model.newDecoder();
            LanguageModel.Decoder foreign = other.newDecoder();
            for (LanguageModel.Decoder d : List.of(good, alone, outside, foreign)) d.prefill(new int[] {5, 6, 7});
            BatchDecoder.Step step = model.batchDecoder().next(List.of(good, outside, foreign), new int[] {9, model.vocabSize(), 9});
            assertArrayEquals(alone.next(9), step.logits()[0]);
            assertFalse(step.failed(0));
            assertTrue(step.failures()[1].getMessage().contains("token id " + model.vocabSize() + " is outside the vocabulary"),
                    step.failures()[1].getMessage());
            assertNull(step.logits()[1]);
            assertTrue(step.failures()[2].getMessage().contains("the decoder is not one of this"), step.failures()[2].getMessage());
            assertEquals(3, outside.position(), "a failed sequence is left as it was");
            assertEquals(3, foreign.position());
        }
    }

    @Test
    void theSequentialDefaultKeepsAFailureWithItsSequence() {
        GsaModel m = Students.random(Students.gsaConfig(), 17);
        LanguageModel.Decoder ok = m.newDecoder(), alone = m.newDecoder();
        ok.prefill(new int[] {3, 4});
        alone.prefill(new int[] {3, 4});
        LanguageModel.Decoder throwing = new LanguageModel.Decoder() {
            public float[] prefill(int[] ids) {
                throw new IllegalStateException("boom");
            }

            public float[] next(int id) {
                throw new IllegalStateException("boom at " + id);
            }

            public int position() {
                return 0;
            }
        };
        BatchDecoder.Step step = BatchDecoder.sequential().next(List.of(throwing, ok), new int[] {8, 9});
        assertEquals("boom at 8", step.failures()[0].getMessage());
        assertArrayEquals(alone.next(9), step.logits()[1]);
    }

    @Test
    void aCallWithMismatchedListsOrADecoderTwiceIsRefusedBeforeAnythingChanges() {
        GsaModel m = Students.random(Students.gsaConfig(), 18);
        LanguageModel.Decoder d = m.newDecoder();
        d.prefill(new int[] {3});
        assertThrows(IllegalArgumentException.class, () -> m.batchDecoder().next(List.of(d, d), new int[] {4, 5}));
        assertThrows(IllegalArgumentException.class, () -> m.batchDecoder().next(List.of(d), new int[] {4, 5}));
        assertEquals(1, d.position());
    }

    /**
     * {@code sequences} sequences with prompts of 1 to 70 tokens, each with a batched decoder and a reference
     * decoder; 40 steps in which sequence i sits out every fourth step (leaving and joining) and the last one
     * joins at step 10. Logits and final states must be equal bit for bit.
     */
    private static void checkAgainstAlone(LanguageModel model, int sequences) {
        Random rnd = new Random(7);
        int[] lengths = {1, 3, 17, 40, 70};
        List<LanguageModel.Decoder> batched = new ArrayList<>(), alone = new ArrayList<>();
        for (int i = 0; i < sequences; i++) {
            batched.add(model.newDecoder());
            alone.add(model.newDecoder());
        }
        BatchDecoder decoder = model.batchDecoder();
        for (int step = 0; step < 40; step++) {
            List<LanguageModel.Decoder> members = new ArrayList<>();
            List<Integer> who = new ArrayList<>();
            for (int i = 0; i < sequences; i++) {
                int joinsAt = i == sequences - 1 ? 10 : 0;
                if (step == joinsAt) {
                    int[] prompt = ids(rnd, lengths[i % lengths.length], model.vocabSize());
                    assertArrayEquals(alone.get(i).prefill(prompt), batched.get(i).prefill(prompt));
                }
                if (step >= joinsAt && (step + i) % 4 != 0) {
                    members.add(batched.get(i));
                    who.add(i);
                }
            }
            int[] tokens = ids(rnd, members.size(), model.vocabSize());
            BatchDecoder.Step out = decoder.next(members, tokens);
            for (int r = 0; r < members.size(); r++) {
                assertFalse(out.failed(r), () -> String.valueOf(out.failures()[0]));
                float[] expected = alone.get(who.get(r)).next(tokens[r]);
                assertArrayEquals(expected, out.logits()[r], "step " + step + ", sequence " + who.get(r));
            }
        }
        for (int i = 0; i < sequences; i++) {
            assertEquals(alone.get(i).position(), batched.get(i).position());
            if (model instanceof GsaModel || model instanceof LlamaModel) assertSameState(alone.get(i).saveState(), batched.get(i).saveState());
        }
    }

    private static void assertSameState(DecoderState expected, DecoderState actual) {
        assertEquals(expected.position(), actual.position());
        for (int l = 0; l < expected.layers().size(); l++) {
            switch (expected.layers().get(l)) {
                case DecoderState.Recurrent r -> {
                    GsaState a = assertInstanceOf(DecoderState.Recurrent.class, actual.layers().get(l)).state();
                    assertArrayEquals(r.state().hk(), a.hk(), "layer " + l);
                    assertArrayEquals(r.state().hv(), a.hv(), "layer " + l);
                }
                case DecoderState.KeyValue kv -> {
                    DecoderState.KeyValue a = assertInstanceOf(DecoderState.KeyValue.class, actual.layers().get(l));
                    assertArrayEquals(kv.keys(), a.keys(), "layer " + l);
                    assertArrayEquals(kv.values(), a.values(), "layer " + l);
                }
            }
        }
    }

    private static int[] ids(Random rnd, int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = 3 + rnd.nextInt(vocab - 3);
        return ids;
    }
}
