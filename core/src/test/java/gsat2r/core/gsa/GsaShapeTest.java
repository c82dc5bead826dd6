package gsat2r.core.gsa;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Wrong sizes fail at the call with a message that names the tensor and both sizes. */
class GsaShapeTest {
    final GsaShape shape = new GsaShape(1, 5, 4, 2, 3, 6, 7);

    @Test
    void queryHeadsMustBeAMultipleOfKvHeads() {
        var e = assertThrows(IllegalArgumentException.class, () -> new GsaShape(1, 5, 4, 3, 3, 6, 7));
        assertEquals("GSA query heads 4 are not a multiple of kv heads 3", e.getMessage());
    }

    @Test
    void arraysMustMatchTheShape() {
        float[] q = new float[shape.qSize()], k = new float[shape.kSize()], v = new float[shape.vSize()];
        float[] s = new float[shape.slotSize()];
        var e = assertThrows(IllegalArgumentException.class,
                () -> new GsaInputs(shape, q, k, new float[shape.vSize() - 1], s, s, 1f));
        assertEquals("GSA v has 59 floats; [B,T,Hkv,V] with B=1 T=5 H=4 Hkv=2 K=3 V=6 M=7 needs 60", e.getMessage());
        GsaInputs in = new GsaInputs(shape, q, k, v, s, s, 1f);
        var wrongState = GsaState.zeros(1, 2, 3, 8, 6);
        var e2 = assertThrows(IllegalArgumentException.class, () -> GsaChunked.forward(in, wrongState));
        assertTrue(e2.getMessage().startsWith("GSA initial state GsaState[B=1 Hkv=2 K=3 M=8 V=6] does not fit"),
                e2.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GsaRecurrent.forward(in, wrongState));
        var fwd = GsaChunked.forward(in, null, 2);
        assertThrows(IllegalArgumentException.class, () -> GsaChunked.backward(fwd, new float[3], null));
    }

    @Test
    void chunkSizeMustBePositive() {
        GsaInputs in = new GsaInputs(shape, new float[shape.qSize()], new float[shape.kSize()],
                new float[shape.vSize()], new float[shape.slotSize()], new float[shape.slotSize()], 1f);
        assertThrows(IllegalArgumentException.class, () -> GsaChunked.forward(in, null, 0));
    }
}
