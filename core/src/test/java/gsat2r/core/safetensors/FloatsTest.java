package gsat2r.core.safetensors;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.math.BigDecimal;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The converters against independent references: exhaustive round trips of every 16-bit pattern,
 * and narrowing checked against exact (BigDecimal) nearest-candidate rounding on all ties and
 * near-ties.
 */
class FloatsTest {

    @Test
    void everyBf16PatternSurvivesTheRoundTripThroughFp32() {
        for (int b = 0; b < 1 << 16; b++) {
            float f = Floats.fromBF16((short) b);
            assertEquals(b, Floats.toBF16(f) & 0xffff, () -> "bf16 pattern " + Integer.toHexString(f2b(f)));
        }
    }

    @Test
    void everyF16PatternSurvivesTheRoundTripThroughFp32() {
        for (int h = 0; h < 1 << 16; h++) {
            float f = Floats.fromF16((short) h);
            assertEquals(h, Floats.toF16(f) & 0xffff, "f16 pattern " + Integer.toHexString(h));
        }
    }

    @Test
    void bf16WideningIsExactAgainstTheFormula() {
        for (int b = 0; b < 1 << 16; b++) {
            int exp = (b >> 7) & 0xff, man = b & 0x7f;
            float f = Floats.fromBF16((short) b);
            if (exp == 0xff) {
                assertEquals(man != 0, Float.isNaN(f), "pattern " + b);
                continue;
            }
            double magnitude = exp == 0 ? man * Math.pow(2, -133) : (1 + man / 128.0) * Math.pow(2, exp - 127);
            double expected = (b & 0x8000) != 0 ? -magnitude : magnitude;
            assertEquals(expected, f, 0.0, "pattern " + b);
        }
    }

    /** Every bf16 value, with the dropped half set to ties, near-ties, zero, all-ones and random bits. */
    @Test
    void bf16NarrowingRoundsToNearestEvenLikeExactArithmetic() {
        SplittableRandom rnd = new SplittableRandom(7);
        int[] lows = {0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0x4000, 0xc000};
        int checked = 0;
        for (int hi = 0; hi < 1 << 16; hi++) {
            for (int k = 0; k < lows.length + 2; k++) {
                int low = k < lows.length ? lows[k] : rnd.nextInt(1 << 16);
                int bits = (hi << 16) | low;
                float f = Float.intBitsToFloat(bits);
                short got = Floats.toBF16(f);
                if (Float.isNaN(f)) {
                    assertTrue(Float.isNaN(Floats.fromBF16(got)), "NaN " + Integer.toHexString(bits) + " must stay NaN");
                    assertEquals(bits >>> 31, (got >>> 15) & 1, "NaN sign");
                    continue;
                }
                assertEquals(referenceBf16(f), got & 0xffff, () -> "fp32 " + Integer.toHexString(bits));
                checked++;
            }
        }
        assertTrue(checked > 600_000);
    }

    /** Nearest of the two bf16 neighbours by exact decimal distance, ties to the even one, IEEE overflow. */
    private static int referenceBf16(float f) {
        if (Float.isInfinite(f)) return f > 0 ? 0x7f80 : 0xff80;
        int bits = Float.floatToRawIntBits(f);
        int sign = bits & 0x8000_0000;
        int magnitude = bits & 0x7fff_ffff;
        int down = magnitude >>> 16;                                // truncated toward zero
        int up = down + 1;
        BigDecimal x = new BigDecimal(Math.abs((double) f));
        BigDecimal lo = new BigDecimal(Float.intBitsToFloat(down << 16));
        // The step past the largest finite bf16 is infinity, valued as 2^128 for rounding.
        BigDecimal hi = up == 0x7f80 ? new BigDecimal(2).pow(128) : new BigDecimal(Float.intBitsToFloat(up << 16));
        int c = x.subtract(lo).compareTo(hi.subtract(x));
        int pick = c < 0 ? down : c > 0 ? up : (down & 1) == 0 ? down : up;
        return (sign >>> 16) | pick;
    }

    /** f16 narrowing (the JDK's) at every midpoint between neighbouring halves, and just either side. */
    @Test
    void f16NarrowingRoundsToNearestEvenLikeExactArithmetic() {
        for (int h = 0; h < 0x7c00; h++) {
            double a = Floats.fromF16((short) h);
            // Past the largest half (65504) the next step is infinity, valued 65536 for rounding.
            double b = h + 1 == 0x7c00 ? 65536.0 : Floats.fromF16((short) (h + 1));
            float mid = (float) ((a + b) / 2);                     // exact: f16 midpoints fit in fp32
            assertEquals((a + b) / 2, mid, 0.0);
            int even = (h & 1) == 0 ? h : h + 1;
            assertEquals(even, Floats.toF16(mid) & 0xffff, "midpoint above half " + h);
            assertEquals(h, Floats.toF16(Math.nextDown(mid)) & 0xffff, "just below midpoint above " + h);
            assertEquals(h + 1, Floats.toF16(Math.nextUp(mid)) & 0xffff, "just above midpoint above " + h);
            assertEquals(0x8000 | even, Floats.toF16(-mid) & 0xffff, "negative midpoint above half " + h);
        }
        assertEquals(0x7e00, Floats.toF16(Float.NaN) & 0x7e00, "NaN stays NaN");
    }

    @Test
    void f8E4M3DecodesEveryPatternLikeTheFormula() {
        for (int b = 0; b < 256; b++) {
            float f = Floats.fromF8E4M3((byte) b);
            int exp = (b >> 3) & 0xf, man = b & 7;
            if (exp == 0xf && man == 7) {
                assertTrue(Float.isNaN(f), "pattern " + b);
                continue;
            }
            double magnitude = exp == 0 ? man / 8.0 * Math.pow(2, -6) : (1 + man / 8.0) * Math.pow(2, exp - 7);
            assertEquals((b & 0x80) != 0 ? -magnitude : magnitude, f, 0.0, "pattern " + b);
        }
        assertEquals(448f, Floats.fromF8E4M3((byte) 0x7e));
        assertEquals(1f, Floats.fromF8E4M3((byte) 0x38));
    }

    @Test
    void f8E5M2DecodesEveryPatternLikeTheFormula() {
        for (int b = 0; b < 256; b++) {
            float f = Floats.fromF8E5M2((byte) b);
            int exp = (b >> 2) & 0x1f, man = b & 3;
            if (exp == 0x1f) {
                assertEquals(man != 0, Float.isNaN(f), "pattern " + b);
                if (man == 0) assertEquals((b & 0x80) != 0 ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY, f);
                continue;
            }
            double magnitude = exp == 0 ? man / 4.0 * Math.pow(2, -14) : (1 + man / 4.0) * Math.pow(2, exp - 15);
            assertEquals((b & 0x80) != 0 ? -magnitude : magnitude, f, 0.0, "pattern " + b);
        }
        assertEquals(57344f, Floats.fromF8E5M2((byte) 0x7b));
    }

    @Test
    void bulkEncodeAndDecodeAgreeWithTheScalarConverters() {
        SplittableRandom rnd = new SplittableRandom(3);
        float[] values = new float[1000];
        for (int i = 0; i < values.length; i++) values[i] = (float) (rnd.nextGaussian() * 100);
        values[0] = Float.NaN;
        values[1] = Float.NEGATIVE_INFINITY;
        for (DType t : new DType[]{DType.F32, DType.F64, DType.F16, DType.BF16}) {
            MemorySegment seg = MemorySegment.ofArray(new byte[values.length * t.byteSize() + 3]);
            Floats.encode(values, 0, values.length, t, seg, 3);
            float[] back = new float[values.length];
            Floats.decode(t, seg, 3, back, 0, values.length);
            for (int i = 0; i < values.length; i++) {
                float expected = switch (t) {
                    case BF16 -> Floats.fromBF16(Floats.toBF16(values[i]));
                    case F16 -> Floats.fromF16(Floats.toF16(values[i]));
                    default -> values[i];
                };
                assertEquals(f2b(expected), f2b(back[i]), t + " element " + i);
            }
        }
    }

    @Test
    void integerEncodingChecksTheRange() {
        long[] values = {0, 1, 255, 256};
        MemorySegment seg = MemorySegment.ofArray(new byte[4]);
        assertEquals(3, Floats.encode(values, 0, 4, DType.U8, seg, 0), "256 does not fit U8");
        assertEquals(-1, Floats.encode(values, 0, 3, DType.U8, seg, 0));
        long[] back = new long[3];
        Floats.decode(DType.U8, seg, 0, back, 0, 3);
        assertEquals(255, back[2]);
        assertEquals(1, Floats.encode(new long[]{0, 2}, 0, 2, DType.BOOL, seg, 0), "BOOL takes 0 and 1");
        assertEquals(0, Floats.encode(new long[]{-1}, 0, 1, DType.U64, MemorySegment.ofArray(new byte[8]), 0));
        MemorySegment i16 = MemorySegment.ofArray(new byte[4]);
        assertEquals(-1, Floats.encode(new long[]{-32768, 32767}, 0, 2, DType.I16, i16, 0));
        long[] shorts = new long[2];
        Floats.decode(DType.I16, i16, 0, shorts, 0, 2);
        assertEquals(-32768, shorts[0]);
        assertEquals(32767, shorts[1]);
        try {
            Floats.encode(new float[1], 0, 1, DType.I32, seg, 0);
            fail("floats cannot be encoded as I32");
        } catch (IllegalArgumentException expected) {
            // as documented
        }
    }

    private static int f2b(float f) {
        return Float.floatToRawIntBits(f);
    }
}
