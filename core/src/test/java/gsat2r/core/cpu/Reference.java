package gsat2r.core.cpu;

import java.util.Random;
import java.util.function.ToDoubleFunction;

/**
 * Test helpers for checking the fp32 ops against naive float64 implementations written in the tests:
 * random inputs, conversions, and central finite differences of a float64 scalar function.
 */
final class Reference {
    private Reference() {}

    /**
     * Asserts {@code relL2(actual, reference) <= tol} (NaN never passes) and prints the measured error, so
     * that the surefire report shows how much margin every check has.
     */
    static double check(String what, double[] actual, double[] reference, double tol) {
        double e = gsat2r.core.testing.Numerics.relL2(actual, reference);
        System.out.printf(java.util.Locale.ROOT, "%-48s rel L2 %.2e (tol %.0e)%n", what, e, tol);
        gsat2r.core.testing.Numerics.assertRelL2(what, actual, reference, tol);
        return e;
    }

    /**
     * Central differences {@code (f(x + ε e_i) − f(x − ε e_i)) / 2ε} for every i. With float64 and
     * ε = 1e-5 the truncation error is O(ε²·f''') ≈ 1e-10 and the rounding error O(1e-16/ε) ≈ 1e-11:
     * far below the fp32 errors these gradients are compared at.
     */
    static double[] gradient(ToDoubleFunction<double[]> f, double[] x) {
        double eps = 1e-5;
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + eps;
            double plus = f.applyAsDouble(x);
            x[i] = keep - eps;
            double minus = f.applyAsDouble(x);
            x[i] = keep;
            g[i] = (plus - minus) / (2 * eps);
        }
        return g;
    }

    static float[] randn(Random rnd, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextGaussian() * std);
        return a;
    }

    static float[] uniform(Random rnd, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        return a;
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    static double[] toDouble(float[] a, int off, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = a[off + i];
        return d;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    /** {@code a − b}, elementwise, in double (the gradient an op added to a buffer that started at b). */
    static double[] minus(float[] a, float[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = (double) a[i] - b[i];
        return d;
    }

    /** {@code a[off..off+n) − b[off..off+n)} in double. */
    static double[] minus(float[] a, float[] b, int off, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = (double) a[off + i] - b[off + i];
        return d;
    }

    static double[] slice(double[] a, int off, int n) {
        double[] d = new double[n];
        System.arraycopy(a, off, d, 0, n);
        return d;
    }

    static double[] concat(double[]... parts) {
        int n = 0;
        for (double[] p : parts) n += p.length;
        double[] out = new double[n];
        int o = 0;
        for (double[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }
}
