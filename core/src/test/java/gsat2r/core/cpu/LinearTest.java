package gsat2r.core.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static gsat2r.core.cpu.Reference.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * {@link Linear} (and {@link Matmul} beneath it) against a naive float64 {@code y = x Wᵀ + b}.
 * Tolerances: fp32 forward and analytic backward vs float64, 1e-6 relative L2 (fp32 rounding of sums of
 * ~100 terms gives ~1e-7); backward vs central differences of the float64 forward, 1e-5.
 */
class LinearTest {

    /** The float64 reference: {@code y[r,o] = Σ_i x[r,i] W[o,i] + b[o]}. */
    static double[] naive(double[] x, double[] w, double[] b, int rows, int in, int out) {
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) s += x[r * in + i] * w[o * in + i];
                y[r * out + o] = s;
            }
        }
        return y;
    }

    @Test
    void backwardMatchesFiniteDifferencesOfFloat64Forward() {
        Random rnd = new Random(1);
        int rows = 5, in = 7, out = 9;
        float[] x = randn(rnd, rows * in, 1), w = randn(rnd, out * in, 0.5), b = randn(rnd, out, 0.5);
        float[] dy = randn(rnd, rows * out, 1);
        float[] y = new float[rows * out];
        Linear.forward(y, 0, x, 0, w, 0, b, 0, rows, in, out);
        check("Linear forward vs f64", toDouble(y), naive(toDouble(x), toDouble(w), toDouble(b), rows, in, out), 1e-6);

        float[] dx0 = randn(rnd, x.length, 0.1), dw0 = randn(rnd, w.length, 0.1), db0 = randn(rnd, out, 0.1);
        float[] dx = dx0.clone(), dw = dw0.clone(), db = db0.clone();
        Linear.backward(dx, 0, dw, 0, db, 0, dy, 0, x, 0, w, 0, rows, in, out);

        double[] p = concat(toDouble(x), toDouble(w), toDouble(b));
        double[] g = gradient(q -> dot(toDouble(dy), naive(slice(q, 0, x.length), slice(q, x.length, w.length),
                slice(q, x.length + w.length, out), rows, in, out)), p);
        check("Linear dx vs FD", minus(dx, dx0), slice(g, 0, x.length), 1e-5);
        check("Linear dW vs FD", minus(dw, dw0), slice(g, x.length, w.length), 1e-5);
        check("Linear db vs FD", minus(db, db0), slice(g, x.length + w.length, out), 1e-5);
    }

    /** Row counts that take the dot-product path (1, 3), the 4-row kernel (4, 8) and its tails (37). */
    @ParameterizedTest
    @ValueSource(ints = {1, 3, 4, 8, 37})
    void largeShapesAgreeWithFloat64(int rows) {
        Random rnd = new Random(rows);
        int in = 129, out = 300; // odd k, two column blocks, the second partial
        int xOff = 3, wOff = 5, yOff = 7; // offsets into larger buffers, as a parameter buffer would have
        float[] x = randn(rnd, xOff + rows * in, 1), w = randn(rnd, wOff + out * in, 0.1), b = randn(rnd, out, 1);
        float[] y = new float[yOff + rows * out];
        Linear.forward(y, yOff, x, xOff, w, wOff, b, 0, rows, in, out);
        double[] xd = toDouble(x, xOff, rows * in), wd = toDouble(w, wOff, out * in);
        check("Linear forward vs f64, rows " + rows, toDouble(y, yOff, rows * out), naive(xd, wd, toDouble(b), rows, in, out), 1e-6);

        float[] dy = randn(rnd, rows * out, 1);
        float[] dx = new float[xOff + rows * in], dw = new float[wOff + out * in], db = new float[out];
        Linear.backward(dx, xOff, dw, wOff, db, 0, dy, 0, x, xOff, w, wOff, rows, in, out);
        double[] dxRef = new double[rows * in], dwRef = new double[out * in], dbRef = new double[out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double g = dy[r * out + o];
                dbRef[o] += g;
                for (int i = 0; i < in; i++) {
                    dxRef[r * in + i] += g * wd[o * in + i];
                    dwRef[o * in + i] += g * xd[r * in + i];
                }
            }
        }
        check("Linear dx vs f64, rows " + rows, toDouble(dx, xOff, rows * in), dxRef, 1e-6);
        check("Linear dW vs f64, rows " + rows, toDouble(dw, wOff, out * in), dwRef, 1e-6);
        check("Linear db vs f64, rows " + rows, toDouble(db), dbRef, 1e-6);
    }

    /** Decoding (one row) and the batched forward compute every output with the same arithmetic. */
    @Test
    void resultsDoNotDependOnRowCountOrPath() {
        Random rnd = new Random(7);
        int rows = 37, in = 65, out = 270;
        float[] x = randn(rnd, rows * in, 1), w = randn(rnd, out * in, 0.1);
        float[] all = new float[rows * out];
        Linear.forward(all, 0, x, 0, w, 0, null, 0, rows, in, out);
        for (int r : new int[] {0, 5, 36}) {
            float[] one = new float[out];
            Linear.forward(one, 0, x, r * in, w, 0, null, 0, 1, in, out);
            float[] expected = java.util.Arrays.copyOfRange(all, r * out, (r + 1) * out);
            assertArrayEquals(expected, one, "row " + r);
        }
        float[] three = new float[3 * out];
        Linear.forward(three, 0, x, 4 * in, w, 0, null, 0, 3, in, out);
        assertArrayEquals(java.util.Arrays.copyOfRange(all, 4 * out, 7 * out), three);
    }

    @Test
    void nullGradientsAreSkipped() {
        Random rnd = new Random(3);
        int rows = 6, in = 4, out = 5;
        float[] x = randn(rnd, rows * in, 1), w = randn(rnd, out * in, 1), dy = randn(rnd, rows * out, 1);
        float[] dw = new float[out * in];
        Linear.backward(null, 0, dw, 0, null, 0, dy, 0, x, 0, w, 0, rows, in, out);
        double[] ref = new double[out * in];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++)
                for (int i = 0; i < in; i++) ref[o * in + i] += (double) dy[r * out + o] * x[r * in + i];
        check("Linear dW only", toDouble(dw), ref, 1e-6);
    }
}
