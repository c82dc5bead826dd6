package gsat2r.core.cpu;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static gsat2r.core.cpu.Reference.*;

/**
 * {@link Silu} and {@link SwiGlu} against float64 {@code x/(1+e^−x)}. Tolerances: forward 1e-6 relative L2,
 * backward vs central differences of the float64 forward 1e-5. Inputs span ±12 so both tails are exercised.
 */
class SwiGluTest {

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    @Test
    void siluForwardAndBackward() {
        Random rnd = new Random(21);
        int n = 41;
        float[] x = uniform(rnd, n, -12, 12), dy = randn(rnd, n, 1);
        float[] y = new float[n];
        Silu.forward(y, 0, x, 0, n);
        double[] ref = new double[n];
        for (int i = 0; i < n; i++) ref[i] = silu(x[i]);
        check("Silu forward vs f64", toDouble(y), ref, 1e-6);
        float[] dx0 = randn(rnd, n, 0.1), dx = dx0.clone();
        Silu.backward(dx, 0, dy, 0, x, 0, n);
        double[] g = gradient(q -> {
            double s = 0;
            for (int i = 0; i < n; i++) s += dy[i] * silu(q[i]);
            return s;
        }, toDouble(x));
        check("Silu dx vs FD", minus(dx, dx0), g, 1e-5);
    }

    @Test
    void swiGluForwardAndBackward() {
        Random rnd = new Random(22);
        int n = 37;
        float[] gate = uniform(rnd, n, -10, 10), up = randn(rnd, n, 1), dh = randn(rnd, n, 1);
        float[] h = new float[n + 2];
        SwiGlu.forward(h, 2, gate, 0, up, 0, n);
        double[] ref = new double[n];
        for (int i = 0; i < n; i++) ref[i] = silu(gate[i]) * up[i];
        check("SwiGlu forward vs f64", toDouble(h, 2, n), ref, 1e-6);
        float[] dg0 = randn(rnd, n, 0.1), du0 = randn(rnd, n, 0.1), dg = dg0.clone(), du = du0.clone();
        SwiGlu.backward(dg, 0, du, 0, dh, 0, gate, 0, up, 0, n);
        double[] g = gradient(q -> {
            double s = 0;
            for (int i = 0; i < n; i++) s += dh[i] * silu(q[i]) * q[n + i];
            return s;
        }, concat(toDouble(gate), toDouble(up)));
        check("SwiGlu dgate vs FD", minus(dg, dg0), slice(g, 0, n), 1e-5);
        check("SwiGlu dup vs FD", minus(du, du0), slice(g, n, n), 1e-5);
    }
}
