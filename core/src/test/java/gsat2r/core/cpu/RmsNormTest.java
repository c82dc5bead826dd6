package gsat2r.core.cpu;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static gsat2r.core.cpu.Reference.*;

/**
 * {@link RmsNorm} against a float64 {@code x / sqrt(mean(x²)+eps) · w}. Tolerances: forward 1e-6 relative
 * L2; backward vs central differences of the float64 forward 1e-5.
 */
class RmsNormTest {

    static double[] naive(double[] x, double[] w, int rows, int dim, double eps) {
        double[] y = new double[rows * dim];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < dim; i++) ss += x[r * dim + i] * x[r * dim + i];
            double rs = 1 / Math.sqrt(ss / dim + eps);
            for (int i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] * rs * w[i];
        }
        return y;
    }

    @Test
    void forwardAndBackwardMatchFloat64() {
        Random rnd = new Random(11);
        int rows = 6, dim = 13;
        float eps = 1e-5f;
        float[] x = randn(rnd, rows * dim, 1), w = uniform(rnd, dim, 0.5, 1.5), dy = randn(rnd, rows * dim, 1);
        x[3] = 0.02f; // a row of small values makes eps matter in the derivative
        float[] y = new float[rows * dim], rstd = new float[rows];
        RmsNorm.forward(y, 0, x, 0, w, 0, rstd, 0, rows, dim, eps);
        check("RmsNorm forward vs f64", toDouble(y), naive(toDouble(x), toDouble(w), rows, dim, eps), 1e-6);

        float[] dx0 = randn(rnd, x.length, 0.1), dw0 = randn(rnd, dim, 0.1);
        float[] dx = dx0.clone(), dw = dw0.clone();
        RmsNorm.backward(dx, 0, dw, 0, dy, 0, x, 0, w, 0, rstd, 0, rows, dim);
        double[] p = concat(toDouble(x), toDouble(w));
        double[] g = gradient(q -> dot(toDouble(dy), naive(slice(q, 0, x.length), slice(q, x.length, dim), rows, dim, eps)), p);
        check("RmsNorm dx vs FD", minus(dx, dx0), slice(g, 0, x.length), 1e-5);
        check("RmsNorm dw vs FD", minus(dw, dw0), slice(g, x.length, dim), 1e-5);
    }

    @Test
    void inPlaceForwardAndLargeRows() {
        Random rnd = new Random(12);
        int rows = 40, dim = 384;
        float[] x = randn(rnd, rows * dim, 3), w = uniform(rnd, dim, 0.5, 1.5);
        double[] ref = naive(toDouble(x), toDouble(w), rows, dim, 1e-6);
        RmsNorm.forward(x, 0, x, 0, w, 0, null, 0, rows, dim, 1e-6f);
        check("RmsNorm in place, 40x384", toDouble(x), ref, 1e-6);
    }
}
