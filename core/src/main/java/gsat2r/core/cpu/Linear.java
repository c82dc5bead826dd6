package gsat2r.core.cpu;

/**
 * A fully connected layer as {@code torch.nn.Linear} computes it: {@code y = x Wᵀ + b}, with the
 * weight stored {@code W[out,in]} row-major exactly as in a Hugging Face checkpoint. Rows of x are
 * tokens ({@code x[rows,in]}, {@code y[rows,out]}, both row-major and contiguous).
 *
 * <p>Arrays are addressed by (array, offset) so that parameters may live in one contiguous buffer.
 * Backward accumulates ({@code +=}) into dx, dW and db, as in llm.c: gradients of a tensor used
 * twice (a residual, tied embeddings, micro-batches) add up without extra buffers; the caller zeroes.
 */
public final class Linear {
    private Linear() {}

    /** {@code y = x Wᵀ (+ b)}; {@code b} may be null (no bias). y must not overlap x or W. */
    public static void forward(float[] y, int yOff, float[] x, int xOff, float[] w, int wOff,
                               float[] b, int bOff, int rows, int in, int out) {
        // B[k=i, n=o] = W[o, i]: W read as its transpose through strides.
        Matmul.multiply(y, yOff, out, x, xOff, in, 1, w, wOff, 1, in, rows, in, out, false);
        if (b != null) {
            for (int r = 0; r < rows; r++) {
                int yo = yOff + r * out;
                for (int o = 0; o < out; o++) y[yo + o] += b[bOff + o];
            }
        }
    }

    /**
     * Gradients of {@code y = x Wᵀ + b} given {@code dy[rows,out]}:
     * {@code dx += dy W}, {@code dW += dyᵀ x}, {@code db += Σ_rows dy}. Any of dx, dW, db may be null
     * (not wanted: a frozen weight, an input that needs no gradient, no bias).
     */
    public static void backward(float[] dx, int dxOff, float[] dw, int dwOff, float[] db, int dbOff,
                                float[] dy, int dyOff, float[] x, int xOff, float[] w, int wOff,
                                int rows, int in, int out) {
        if (dx != null) {
            // dx[r, i] += Σ_o dy[r, o] W[o, i]: B = W as stored.
            Matmul.multiply(dx, dxOff, in, dy, dyOff, out, 1, w, wOff, in, 1, rows, out, in, true);
        }
        if (dw != null) {
            // dW[o, i] += Σ_r dy[r, o] x[r, i]: A = dyᵀ read through strides, B = x.
            Matmul.multiply(dw, dwOff, in, dy, dyOff, 1, out, x, xOff, in, 1, out, rows, in, true);
        }
        if (db != null) {
            // Summed in double over the rows: a bias gradient sums thousands of tokens.
            Parallel.forRange(out, 64, (o0, o1) -> {
                for (int o = o0; o < o1; o++) {
                    double s = 0;
                    for (int r = 0; r < rows; r++) s += dy[dyOff + r * out + o];
                    db[dbOff + o] += (float) s;
                }
            });
        }
    }
}
