package gsat2r.core.cpu;

/**
 * The SiLU (swish) activation {@code silu(x) = x · σ(x) = x / (1 + e^−x)}, elementwise over
 * {@code n} values. Evaluated in double and rounded once: within half an fp32 ulp of the exact value,
 * where torch's fp32 kernel is within about one.
 */
public final class Silu {
    private Silu() {}

    /** {@code silu(x)} of one value. */
    public static float apply(float x) {
        return (float) (x / (1.0 + Math.exp(-x)));
    }

    /** The derivative {@code σ(x) · (1 + x · (1 − σ(x)))}. */
    public static double derivative(float x) {
        double sig = 1.0 / (1.0 + Math.exp(-x));
        return sig * (1.0 + x * (1.0 - sig));
    }

    /** {@code y = silu(x)}; y may be x. */
    public static void forward(float[] y, int yOff, float[] x, int xOff, int n) {
        Parallel.forRange(n, 16384, (i0, i1) -> {
            for (int i = i0; i < i1; i++) y[yOff + i] = apply(x[xOff + i]);
        });
    }

    /** {@code dx += dy · silu'(x)}. dx must not overlap dy or x unless it is dy itself at the same offset. */
    public static void backward(float[] dx, int dxOff, float[] dy, int dyOff, float[] x, int xOff, int n) {
        Parallel.forRange(n, 16384, (i0, i1) -> {
            for (int i = i0; i < i1; i++) dx[dxOff + i] += (float) (dy[dyOff + i] * derivative(x[xOff + i]));
        });
    }
}
