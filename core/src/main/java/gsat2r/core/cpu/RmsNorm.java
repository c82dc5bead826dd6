package gsat2r.core.cpu;

/**
 * Root-mean-square normalization as Hugging Face's {@code LlamaRMSNorm} computes it, in fp32:
 * {@code y = (x · rsqrt(mean(x²) + eps)) · w} per row of {@code dim} values. The mean of squares is
 * summed in double (torch sums in fp32 with pairwise blocks; double is closer to both the exact value
 * and to torch than a sequential fp32 sum would be). {@code eps} is passed as float because torch adds
 * the Python float to an fp32 tensor, which rounds it to fp32.
 */
public final class RmsNorm {
    private RmsNorm() {}

    /**
     * Normalizes {@code rows} rows of x into y (y may be x itself). If {@code rstd} is not null, stores
     * {@code 1/sqrt(mean(x²)+eps)} per row at {@code rstd[rstdOff + r]}, which backward needs.
     */
    public static void forward(float[] y, int yOff, float[] x, int xOff, float[] w, int wOff,
                               float[] rstd, int rstdOff, int rows, int dim, float eps) {
        Parallel.forRange(rows, Math.max(1, 8192 / Math.max(1, dim)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int xo = xOff + r * dim, yo = yOff + r * dim;
                float rs = inverseRms(x, xo, dim, eps);
                if (rstd != null) rstd[rstdOff + r] = rs;
                for (int i = 0; i < dim; i++) y[yo + i] = (x[xo + i] * rs) * w[wOff + i];
            }
        });
    }

    /** {@code 1 / sqrt(mean(x²) + eps)} of one row, the variance rounded to fp32 as in torch. */
    public static float inverseRms(float[] x, int off, int dim, float eps) {
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double) x[off + i] * x[off + i];
        float variance = (float) (ss / dim);
        return (float) (1.0 / Math.sqrt(variance + eps));
    }

    /**
     * Gradients of {@code y = x·r·w} with {@code r = (mean(x²)+eps)^-1/2} given dy, from the forward's x
     * and rstd: {@code dx += r·(w⊙dy) − x·r³/dim·Σ(w⊙dy⊙x)}, {@code dw += Σ_rows dy⊙x·r}. dx and dw may be
     * null. dx must not overlap x or dy.
     */
    public static void backward(float[] dx, int dxOff, float[] dw, int dwOff,
                                float[] dy, int dyOff, float[] x, int xOff, float[] w, int wOff,
                                float[] rstd, int rstdOff, int rows, int dim) {
        if (dx != null) {
            Parallel.forRange(rows, Math.max(1, 8192 / Math.max(1, dim)), (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    int xo = xOff + r * dim, go = dyOff + r * dim, dxo = dxOff + r * dim;
                    double rs = rstd[rstdOff + r];
                    double dot = 0; // Σ_i w_i dy_i x_i, in double: it is a long sum of mixed signs.
                    for (int i = 0; i < dim; i++) dot += (double) w[wOff + i] * dy[go + i] * x[xo + i];
                    float coeff = (float) (dot * rs * rs * rs / dim);
                    float rsf = (float) rs;
                    for (int i = 0; i < dim; i++) {
                        dx[dxo + i] += rsf * w[wOff + i] * dy[go + i] - x[xo + i] * coeff;
                    }
                }
            });
        }
        if (dw != null) {
            // Per column, summed over rows in double (a weight gradient sums every token of a batch).
            Parallel.forRange(dim, 64, (i0, i1) -> {
                double[] acc = new double[i1 - i0];
                for (int r = 0; r < rows; r++) {
                    int xo = xOff + r * dim, go = dyOff + r * dim;
                    double rs = rstd[rstdOff + r];
                    for (int i = i0; i < i1; i++) acc[i - i0] += (double) dy[go + i] * x[xo + i] * rs;
                }
                for (int i = i0; i < i1; i++) dw[dwOff + i] += (float) acc[i - i0];
            });
        }
    }
}
