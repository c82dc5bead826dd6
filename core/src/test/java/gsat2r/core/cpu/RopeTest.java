package gsat2r.core.cpu;

import gsat2r.core.config.RopeParameters;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static gsat2r.core.cpu.Reference.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Rope}: inverse frequencies against float64 formulas (the llama3 one written as Meta's reference
 * {@code apply_scaling} loop, independently of transformers' tensor form), tables and rotation against
 * float64. Tolerances: inv_freq 1e-6 relative per element (fp32 steps); rotation 1e-6 relative L2;
 * backward vs central differences 1e-6 (the op is linear).
 */
class RopeTest {

    static double[] defaultInvFreq(double theta, int dim) {
        double[] inv = new double[dim / 2];
        for (int i = 0; i < dim / 2; i++) inv[i] = 1.0 / Math.pow(theta, 2.0 * i / dim);
        return inv;
    }

    static void assertClose(String what, double[] expected, float[] actual, double relTol) {
        assertEquals(expected.length, actual.length);
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double rel = Math.abs(actual[i] - expected[i]) / Math.abs(expected[i]);
            worst = Math.max(worst, rel);
            assertTrue(rel <= relTol, what + "[" + i + "] = " + actual[i] + ", expected " + expected[i]);
        }
        System.out.printf(java.util.Locale.ROOT, "%-48s max rel %.2e (tol %.0e)%n", what, worst, relTol);
    }

    @Test
    void defaultAndLinearInverseFrequencies() {
        double[] ref = defaultInvFreq(500000, 64);
        assertClose("inv_freq default", ref, Rope.inverseFrequencies(RopeParameters.defaults(500000), 64), 1e-6);
        for (int i = 0; i < ref.length; i++) ref[i] /= 4;
        assertClose("inv_freq linear x4", ref, Rope.inverseFrequencies(RopeParameters.linear(500000, 4), 64), 1e-6);
    }

    @Test
    void llama3InverseFrequenciesFollowMetasReference() {
        // Llama 3.1's own settings, and a small context that puts head_dim 16 in all three bands.
        checkLlama3(128, 500000, 8, 1, 4, 8192);
        checkLlama3(16, 10000, 4, 1, 4, 64);
    }

    private static void checkLlama3(int dim, double theta, double factor, double low, double high, int old) {
        double[] freqs = defaultInvFreq(theta, dim);
        double lowWavelen = old / low, highWavelen = old / high;
        double[] expected = new double[freqs.length];
        int[] bands = new int[3];
        for (int i = 0; i < freqs.length; i++) {
            double f = freqs[i], wavelen = 2 * Math.PI / f;
            if (wavelen < highWavelen) {
                expected[i] = f;
                bands[0]++;
            } else if (wavelen > lowWavelen) {
                expected[i] = f / factor;
                bands[2]++;
            } else {
                double smooth = (old / wavelen - low) / (high - low);
                expected[i] = (1 - smooth) * f / factor + smooth * f;
                bands[1]++;
            }
        }
        assertTrue(bands[0] > 0 && bands[1] > 0 && bands[2] > 0, "all three bands exercised");
        float[] actual = Rope.inverseFrequencies(RopeParameters.llama3(theta, factor, low, high, old), dim);
        assertClose("inv_freq llama3 dim " + dim, expected, actual, 1e-6);
    }

    @Test
    void roundingToBf16IsNearestEven() {
        float ulp = 1f / 128; // bf16 keeps 7 fraction bits: values near 1 step by 2^-7
        assertEquals(1f, Rope.roundToBfloat16(1f + ulp / 2), "tie rounds to even (down)");
        assertEquals(1f + 2 * ulp, Rope.roundToBfloat16(1f + 3 * ulp / 2), "tie rounds to even (up)");
        assertEquals(1f + ulp, Rope.roundToBfloat16(1f + ulp * 0.75f), "nearest");
        float[] inv = Rope.roundTo(new float[] {0.1f, 3e-5f}, gsat2r.core.safetensors.DType.BF16);
        assertEquals(0.10009765625f, inv[0]);
        assertEquals(Float.intBitsToFloat(0x37fc0000), inv[1], "0x37fba882: low half above the tie, rounds up");
        float[] same = {0.1f};
        Rope.roundTo(same, gsat2r.core.safetensors.DType.F32);
        assertEquals(0.1f, same[0]);
    }

    @Test
    void tablesAreCosAndSinOfTheFp32Angle() {
        float[] inv = Rope.inverseFrequencies(RopeParameters.defaults(10000), 8);
        int pos0 = 4090, count = 9;
        float[] cos = new float[count * 4], sin = new float[count * 4];
        Rope.tables(inv, pos0, count, cos, sin);
        for (int r = 0; r < count; r++) {
            for (int i = 0; i < 4; i++) {
                double exact = (double) (pos0 + r) * inv[i];
                // The fp32 angle is off by at most half an ulp of the angle: a bound on the table error.
                double bound = Math.ulp((float) exact) + 1e-7;
                assertEquals(Math.cos(exact), cos[r * 4 + i], bound);
                assertEquals(Math.sin(exact), sin[r * 4 + i], bound);
            }
        }
    }

    /** Float64 rotate_half rotation with the same fp32 tables. */
    static double[] naive(double[] x, float[] cos, float[] sin, int row0, int rows, int heads, int dim) {
        int half = dim / 2;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++) {
                    int o = r * heads * dim + h * dim;
                    double c = cos[(row0 + r) * half + i], s = sin[(row0 + r) * half + i];
                    y[o + i] = x[o + i] * c - x[o + half + i] * s;
                    y[o + half + i] = x[o + half + i] * c + x[o + i] * s;
                }
        return y;
    }

    @Test
    void rotationAndItsBackward() {
        Random rnd = new Random(41);
        int rows = 5, heads = 3, dim = 6, row0 = 2;
        float[] inv = Rope.inverseFrequencies(RopeParameters.llama3(10000, 4, 1, 4, 16), dim);
        float[] cos = new float[(row0 + rows) * dim / 2], sin = new float[cos.length];
        Rope.tables(inv, 0, row0 + rows, cos, sin);
        float[] x = randn(rnd, rows * heads * dim, 1), dy = randn(rnd, x.length, 1);
        float[] y = new float[x.length];
        Rope.forward(y, 0, x, 0, cos, sin, row0, rows, heads, dim);
        double[] ref = naive(toDouble(x), cos, sin, row0, rows, heads, dim);
        check("Rope forward vs f64", toDouble(y), ref, 1e-6);
        float[] inPlace = x.clone();
        Rope.forward(inPlace, 0, inPlace, 0, cos, sin, row0, rows, heads, dim);
        org.junit.jupiter.api.Assertions.assertArrayEquals(y, inPlace, "in place = out of place");

        float[] dx0 = randn(rnd, x.length, 0.1), dx = dx0.clone();
        Rope.backward(dx, 0, dy, 0, cos, sin, row0, rows, heads, dim);
        double[] g = gradient(q -> dot(toDouble(dy), naive(q, cos, sin, row0, rows, heads, dim)), toDouble(x));
        check("Rope dx vs FD", minus(dx, dx0), g, 1e-6);
    }
}
