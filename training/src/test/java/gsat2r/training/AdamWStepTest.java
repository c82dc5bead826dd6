package gsat2r.training;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class AdamWStepTest {

    private static final ParameterInfo CONV = new ParameterInfo("model.layers.2.attn.k_conv1d.weight", new long[] {32, 1, 4});
    private static final ParameterInfo PROJ = new ParameterInfo("model.layers.2.attn.k_proj.weight", new long[] {32, 64});

    /** Only the convolutions' kernels take the scaled rate; everything else of the step is kept. */
    @Test
    void convolutionKernelsTakeTheirOwnRate() {
        AdamWStep s = new AdamWStep(3, 1e-3, 0.9, 0.95, 1e-8, 0.1, 0.5, 30);
        assertSame(s, s.of(PROJ));
        AdamWStep c = s.of(CONV);
        assertEquals(3e-2, c.lr(), 1e-15);
        assertEquals(new AdamWStep(3, c.lr(), 0.9, 0.95, 1e-8, 0.1, 0.5), c);
        assertEquals(0.1, s.weightDecayOf(CONV));
        AdamWStep plain = new AdamWStep(3, 1e-3, 0.9, 0.95, 1e-8, 0.1, 0.5);
        assertSame(plain, plain.of(CONV));
    }

    @Test
    void aScaleMustBePositiveAndFinite() {
        for (double bad : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class, () -> new AdamWStep(1, 1e-3, 0.9, 0.95, 1e-8, 0, 1, bad));
        }
    }
}
