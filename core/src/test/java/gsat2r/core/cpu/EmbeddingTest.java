package gsat2r.core.cpu;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static gsat2r.core.cpu.Reference.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link Embedding}: lookups are exact copies; the scatter-add backward equals a float64 sum (1e-6). */
class EmbeddingTest {

    @Test
    void lookupCopiesRowsAndBackwardScatterAdds() {
        Random rnd = new Random(31);
        int vocab = 11, dim = 7;
        int[] ids = {3, 0, 10, 3, 3, 5, 0};
        float[] table = randn(rnd, vocab * dim, 1);
        float[] out = new float[ids.length * dim];
        Embedding.forward(out, 0, ids, 0, ids.length, table, 0, vocab, dim);
        for (int t = 0; t < ids.length; t++) {
            assertArrayEquals(java.util.Arrays.copyOfRange(table, ids[t] * dim, ids[t] * dim + dim),
                    java.util.Arrays.copyOfRange(out, t * dim, t * dim + dim));
        }
        float[] dout = randn(rnd, ids.length * dim, 1);
        float[] d0 = randn(rnd, vocab * dim, 0.1), d = d0.clone();
        Embedding.backward(d, 0, ids, 0, ids.length, dout, 0, dim);
        double[] ref = new double[vocab * dim];
        for (int t = 0; t < ids.length; t++)
            for (int c = 0; c < dim; c++) ref[ids[t] * dim + c] += dout[t * dim + c];
        check("Embedding backward vs f64 scatter-add", minus(d, d0), ref, 1e-6);
    }

    @Test
    void outOfVocabularyIdIsRefused() {
        float[] table = new float[4 * 2], out = new float[2];
        assertThrows(IllegalArgumentException.class,
                () -> Embedding.forward(out, 0, new int[] {4}, 0, 1, table, 0, 4, 2));
        assertThrows(IllegalArgumentException.class,
                () -> Embedding.forward(out, 0, new int[] {-1}, 0, 1, table, 0, 4, 2));
    }
}
