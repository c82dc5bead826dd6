package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The float64 references' backward passes against central finite differences of their forward
 * passes (runs in CI): the GPU tests then compare the kernels with gradients that are known right.
 */
class CpuReferenceTest {
    private static final Random RNG = new Random(42);

    private static double[] randn(int n, double std) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = RNG.nextGaussian() * std;
        return a;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    /** Checks analytic d(sum(f(x) * dout))/dx at every coordinate against a central difference. */
    private static void gradCheck(String what, Function<double[], double[]> f, double[] x, double[] dout, double[] analytic) {
        double h = 1e-6, worst = 0;
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + h;
            double up = dot(f.apply(x), dout);
            x[i] = keep - h;
            double down = dot(f.apply(x), dout);
            x[i] = keep;
            double numeric = (up - down) / (2 * h);
            worst = Math.max(worst, Math.abs(numeric - analytic[i]) / (1e-6 + Math.abs(numeric)));
        }
        assertTrue(worst < 1e-5, what + ": worst relative difference to finite differences " + worst);
    }

    @Test
    void rmsnormBackward() {
        int rows = 3, dim = 7;
        double eps = 1e-5;
        double[] x = randn(rows * dim, 1.3), w = randn(dim, 1), dout = randn(rows * dim, 1);
        double[] dw = new double[dim];
        double[] dx = CpuReference.rmsnormBackward(dout, x, w, rows, dim, eps, dw);
        gradCheck("rmsnorm dx", xx -> CpuReference.rmsnormForward(xx, w, rows, dim, eps, null), x, dout, dx);
        gradCheck("rmsnorm dw", ww -> CpuReference.rmsnormForward(x, ww, rows, dim, eps, null), w.clone(), dout, dw);
    }

    @Test
    void ropeBackwardIsTheTranspose() {
        int nTokens = 3, nHeads = 2, headDim = 8, stride = 20;
        RopeTables t = RopeTables.llama(headDim, 10000, 16);
        int[] pos = {0, 5, 15};
        double[] x = randn(nTokens * stride, 1), dout = randn(nTokens * stride, 1);
        double[] dx = CpuReference.rope(dout, t.cos(), t.sin(), pos, nTokens, nHeads, headDim, stride, -1);
        // Elements outside the heads pass through unchanged, so their gradient is dout itself.
        gradCheck("rope", xx -> CpuReference.rope(xx, t.cos(), t.sin(), pos, nTokens, nHeads, headDim, stride, 1), x, dout, dx);
    }

    @Test
    void swigluAndSiluBackward() {
        int n = 11;
        double[] g = randn(n, 2), u = randn(n, 1), dout = randn(n, 1);
        double[][] grads = CpuReference.swigluBackward(dout, g, u);
        gradCheck("swiglu dgate", gg -> CpuReference.swigluForward(gg, u), g.clone(), dout, grads[0]);
        gradCheck("swiglu dup", uu -> CpuReference.swigluForward(g, uu), u.clone(), dout, grads[1]);
        double[] ds = new double[n];
        for (int i = 0; i < n; i++) ds[i] = dout[i] * CpuReference.siluGrad(g[i]);
        gradCheck("silu", gg -> {
            double[] o = new double[n];
            for (int i = 0; i < n; i++) o[i] = CpuReference.silu(gg[i]);
            return o;
        }, g.clone(), dout, ds);
    }

    @Test
    void crossEntropyGradient() {
        int rows = 3, v = 9;
        int[] targets = {4, -1, 8};
        double[] logits = randn(rows * v, 2);
        double[] grad = new double[rows * v];
        double[] loss = CpuReference.crossEntropy(logits, targets, rows, v, grad);
        assertEquals(0, loss[1]);
        double[] ones = {1, 1, 1};
        gradCheck("cross-entropy", l -> CpuReference.crossEntropy(l, targets, rows, v, null), logits, ones, grad);
    }

    @Test
    void klGradientAndValue() {
        int rows = 3, v = 10;
        int[] mask = {1, 0, 1};
        double temperature = 2.5;
        double[] s = randn(rows * v, 2), t = randn(rows * v, 2);
        double[] grad = new double[rows * v];
        double[] loss = CpuReference.klDivergence(s, t, mask, rows, v, temperature, grad);
        assertEquals(0, loss[1]);
        assertTrue(loss[0] > 0 && loss[2] > 0);
        assertEquals(0, CpuReference.klDivergence(t, t, null, rows, v, temperature, null)[0], 1e-12);
        double[] ones = {1, 1, 1};
        gradCheck("kl", ss -> CpuReference.klDivergence(ss, t, mask, rows, v, temperature, null), s, ones, grad);
    }
}
