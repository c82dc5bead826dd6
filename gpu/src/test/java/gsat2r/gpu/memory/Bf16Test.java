package gsat2r.gpu.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class Bf16Test {
    private static short bits(float f) {
        return Bf16.fromFloat(f);
    }

    @Test
    void exactValuesSurvive() {
        for (float f : new float[] {0f, -0f, 1f, -2.5f, 0.15625f, 65536f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            assertEquals(Float.floatToRawIntBits(f), Float.floatToRawIntBits(Bf16.round(f)), "value " + f);
        }
    }

    @Test
    void roundsToNearestTiesToEven() {
        // bf16 keeps 7 fraction bits: next to 1.0 are 1 + 2^-7. Halfway cases go to the even one.
        assertEquals((short) 0x3f80, bits(1f + 0x1p-8f));                 // tie, 0x3f80 is even
        assertEquals((short) 0x3f82, bits(1f + 3 * 0x1p-8f));             // tie, 0x3f82 is even
        assertEquals((short) 0x3f81, bits(1f + 0x1p-8f + 0x1p-20f));      // just above the tie
        assertEquals((short) 0x3f80, bits(1f + 0x1p-8f - 0x1p-20f));      // just below
        assertEquals((short) 0xbf80, bits(-1f - 0x1p-8f));
        assertEquals((short) 0x7f80, bits(Float.MAX_VALUE));              // overflows to infinity, as torch does
    }

    @Test
    void nanStaysNan() {
        assertTrue(Float.isNaN(Bf16.round(Float.NaN)));
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloat(Float.intBitsToFloat(0x7f800001)))));  // a NaN that truncation would turn into infinity
    }

    @Test
    void relativeErrorIsAtMostHalfAnUlp() {
        Random r = new Random(1);
        for (int i = 0; i < 100_000; i++) {
            float f = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(20) - 10));
            float b = Bf16.round(f);
            assertTrue(Math.abs(b - f) <= Math.abs(f) * 0x1p-8 * 1.0000001, f + " -> " + b);
        }
    }
}
