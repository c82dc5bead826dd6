package gsat2r.core.model.gsa;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.RecomputingDecoder;
import gsat2r.core.testing.Numerics;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The recomputing decoder against the recurrent one, on a hybrid student with short convolutions (whose decoder
 * carries the convolutions' last rows): a prefill, token-by-token steps and a multi-token {@code prefillAll} give
 * the recurrent decoder's logits within 1e-5 relative L2 (fp32; they sum in other orders), and the positions agree.
 */
class RecomputingDecoderTest {

    @Test
    void itDecodesAsTheRecurrentDecoder() {
        GsaModel m = TestStudents.random(StudentDecodingTest.convolved(), 51);
        int[] ids = TestStudents.randomIds(140, 64, 52);
        LanguageModel.Decoder recurrent = m.newDecoder();
        RecomputingDecoder recomputing = RecomputingDecoder.of(m);
        int[] prompt = Arrays.copyOf(ids, 70);
        Numerics.assertRelL2("after the prompt", recomputing.prefill(prompt), recurrent.prefill(prompt), 1e-5);
        for (int t = 70; t < 100; t++) Numerics.assertRelL2("step " + t, recomputing.next(ids[t]), recurrent.next(ids[t]), 1e-5);
        int[] more = Arrays.copyOfRange(ids, 100, 140);
        float[][] a = recomputing.prefillAll(more), b = recurrent.prefillAll(more);
        assertEquals(40, a.length);
        Numerics.assertRelL2("prefillAll", Numerics.flatten(a), Numerics.flatten(b), 1e-5);
        assertEquals(140, recomputing.position());
        assertEquals(recurrent.position(), recomputing.position());
    }

    @Test
    void itRefusesAnEmptyPromptAndHasNoStateToSave() {
        RecomputingDecoder d = RecomputingDecoder.of(TestStudents.random(StudentDecodingTest.convolved(), 53));
        assertThrows(T2rException.class, () -> d.prefill(new int[0]));
        assertThrows(T2rException.class, d::saveState);
        assertEquals(0, d.position());
    }
}
