package gsat2r.serve;

import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.testing.Fixtures;
import gsat2r.core.testing.Students;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * What the prefix cache rests on: a prompt fed in {@link PrefillPlan} pieces, or resumed from the state saved at any
 * of its boundaries in a fresh decoder, gives the logits of ONE uninterrupted prefill bit for bit (then and for the
 * tokens after it), for GSA students (chunked form from a state), hybrids and teachers.
 */
class PrefillExactnessTest {
    private static final int[] LENGTHS = {1, 2, 63, 64, 65, 66, 127, 128, 129, 130, 200};

    @TempDir
    Path tmp;

    @Test
    void gsaStudent() {
        check(Students.random(Students.gsaConfig(), 21));
    }

    @Test
    void hybridStudents() {
        check(Students.random(Students.hybridConfig(24), 22));
        check(Students.random(Students.hybridConfig(null), 23));
    }

    @Test
    void teachers() {
        check(LlamaModel.load(Fixtures.copy("hf-tiny-llama", tmp.resolve("llama"))));
        check(LlamaModel.load(Fixtures.copy("hf-tiny-mistral", tmp.resolve("mistral"))));
    }

    private static void check(LanguageModel m) {
        Random rnd = new Random(5);
        for (int n : LENGTHS) {
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = 3 + rnd.nextInt(m.vocabSize() - 3);
            int[] after = {4, 5, 6};
            LanguageModel.Decoder whole = m.newDecoder();
            float[] expected = whole.prefill(ids);
            List<float[]> expectedAfter = Arrays.stream(after).mapToObj(whole::next).toList();

            LanguageModel.Decoder pieces = m.newDecoder();
            float[] last = null;
            int at = 0;
            DecoderState[] saved = new DecoderState[n + 1];
            while (at < n) {
                int end = PrefillPlan.pieceEnd(at, n);
                last = pieces.prefill(Arrays.copyOfRange(ids, at, end));
                at = end;
                if (PrefillPlan.isBoundary(at, n)) saved[at] = pieces.saveState();
            }
            assertArrayEquals(expected, last, "pieces, n " + n);
            for (int k = 0; k < after.length; k++) assertArrayEquals(expectedAfter.get(k), pieces.next(after[k]), "n " + n);

            for (int b = 1; b <= n; b++) {
                if (saved[b] == null) continue;
                LanguageModel.Decoder resumed = m.newDecoder();
                resumed.restoreState(saved[b]);
                float[] got = null;
                for (int from = b; from < n; from = PrefillPlan.pieceEnd(from, n)) {
                    got = resumed.prefill(Arrays.copyOfRange(ids, from, PrefillPlan.pieceEnd(from, n)));
                }
                assertArrayEquals(expected, got, "resumed at " + b + ", n " + n);
                for (int k = 0; k < after.length; k++) assertArrayEquals(expectedAfter.get(k), resumed.next(after[k]));
            }
        }
    }
}
