package gsat2r.gpu.ops;

/**
 * Float64 references of the GPU kernels, written from the math (not from the kernels). Until core's
 * CPU ops land, these are the oracle; {@link CpuReferenceTest} checks every backward here against
 * central finite differences of its forward.
 */
final class CpuReference {
    private CpuReference() {}

    static double[] d(float[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) r[i] = a[i];
        return r;
    }

    // ---- embedding ----

    static double[] embeddingForward(float[] table, int[] ids, int dim) {
        double[] out = new double[ids.length * dim];
        for (int t = 0; t < ids.length; t++) for (int i = 0; i < dim; i++) out[t * dim + i] = table[ids[t] * dim + i];
        return out;
    }

    static double[] embeddingBackward(float[] dout, int[] ids, int dim, int vocab) {
        double[] g = new double[vocab * dim];
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= vocab) continue;
            for (int i = 0; i < dim; i++) g[ids[t] * dim + i] += dout[t * dim + i];
        }
        return g;
    }

    // ---- RMSNorm ----

    static double[] rmsnormForward(double[] x, double[] w, int rows, int dim, double eps, double[] rstdOut) {
        double[] y = new double[rows * dim];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < dim; i++) ss += x[r * dim + i] * x[r * dim + i];
            double rstd = 1 / Math.sqrt(ss / dim + eps);
            if (rstdOut != null) rstdOut[r] = rstd;
            for (int i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] * rstd * w[i];
        }
        return y;
    }

    /** Returns dx; adds the weight gradient into dw. */
    static double[] rmsnormBackward(double[] dout, double[] x, double[] w, int rows, int dim, double eps, double[] dw) {
        double[] dx = new double[rows * dim];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < dim; i++) ss += x[r * dim + i] * x[r * dim + i];
            double rstd = 1 / Math.sqrt(ss / dim + eps);
            double dot = 0;
            for (int i = 0; i < dim; i++) dot += dout[r * dim + i] * w[i] * x[r * dim + i] * rstd;
            dot /= dim;
            for (int i = 0; i < dim; i++) {
                double xh = x[r * dim + i] * rstd;
                dx[r * dim + i] = rstd * (dout[r * dim + i] * w[i] - xh * dot);
                dw[i] += dout[r * dim + i] * xh;
            }
        }
        return dx;
    }

    // ---- RoPE (rotate_half) ----

    /** sign +1: forward rotation; -1: its transpose (the backward pass). Elements outside the heads are copied. */
    static double[] rope(double[] x, float[] cos, float[] sin, int[] pos, int nTokens, int nHeads, int headDim, int stride,
                         double sign) {
        double[] out = x.clone();
        int half = headDim / 2;
        for (int t = 0; t < nTokens; t++) {
            for (int h = 0; h < nHeads; h++) {
                int base = t * stride + h * headDim;
                for (int i = 0; i < half; i++) {
                    double c = cos[pos[t] * half + i], s = sign * sin[pos[t] * half + i];
                    double x1 = x[base + i], x2 = x[base + i + half];
                    out[base + i] = x1 * c - x2 * s;
                    out[base + i + half] = x2 * c + x1 * s;
                }
            }
        }
        return out;
    }

    // ---- SiLU, SwiGLU ----

    static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    static double silu(double v) {
        return v * sigmoid(v);
    }

    static double siluGrad(double v) {
        double s = sigmoid(v);
        return s * (1 + v * (1 - s));
    }

    static double[] swigluForward(double[] gate, double[] up) {
        double[] o = new double[gate.length];
        for (int i = 0; i < o.length; i++) o[i] = silu(gate[i]) * up[i];
        return o;
    }

    /** {dgate, dup}. */
    static double[][] swigluBackward(double[] dout, double[] gate, double[] up) {
        double[] dg = new double[gate.length], du = new double[gate.length];
        for (int i = 0; i < dg.length; i++) {
            dg[i] = dout[i] * up[i] * siluGrad(gate[i]);
            du[i] = dout[i] * silu(gate[i]);
        }
        return new double[][] {dg, du};
    }

    // ---- losses ----

    static double logSumExp(double[] x, int off, int n, double scale) {
        double m = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) m = Math.max(m, x[off + i] * scale);
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.exp(x[off + i] * scale - m);
        return m + Math.log(s);
    }

    /** Per-row loss; dlogits (unscaled softmax - onehot) into {@code grad} when not null. Negative targets: 0. */
    static double[] crossEntropy(double[] logits, int[] targets, int rows, int v, double[] grad) {
        double[] loss = new double[rows];
        for (int r = 0; r < rows; r++) {
            if (targets[r] < 0) continue;
            double lse = logSumExp(logits, r * v, v, 1);
            loss[r] = lse - logits[r * v + targets[r]];
            if (grad != null) {
                for (int i = 0; i < v; i++) grad[r * v + i] = Math.exp(logits[r * v + i] - lse) - (i == targets[r] ? 1 : 0);
            }
        }
        return loss;
    }

    /** KL(softmax(t/T) || softmax(s/T)) per row; d loss / d student into {@code grad} when not null. mask[r] == 0 skips. */
    static double[] klDivergence(double[] student, double[] teacher, int[] mask, int rows, int v, double temperature, double[] grad) {
        double[] loss = new double[rows];
        double inv = 1 / temperature;
        for (int r = 0; r < rows; r++) {
            if (mask != null && mask[r] == 0) continue;
            double lseA = logSumExp(teacher, r * v, v, inv), lseB = logSumExp(student, r * v, v, inv);
            double kl = 0;
            for (int i = 0; i < v; i++) {
                double logP = teacher[r * v + i] * inv - lseA, logQ = student[r * v + i] * inv - lseB;
                kl += Math.exp(logP) * (logP - logQ);
                if (grad != null) grad[r * v + i] = inv * (Math.exp(logQ) - Math.exp(logP));
            }
            loss[r] = kl;
        }
        return loss;
    }

    // ---- matmul ----

    /** Row-major C[m,n] = op(A) op(B), A stored [m,k] or [k,m] (transA), B stored [k,n] or [n,k] (transB). */
    static double[] matmul(float[] a, float[] b, int m, int n, int k, boolean transA, boolean transB) {
        double[] c = new double[m * n];
        double[] bt = new double[k * n];  // B as [k][n]
        for (int p = 0; p < k; p++) for (int j = 0; j < n; j++) bt[p * n + j] = transB ? b[j * k + p] : b[p * n + j];
        for (int i = 0; i < m; i++) {
            for (int p = 0; p < k; p++) {
                double av = transA ? a[p * m + i] : a[i * k + p];
                if (av == 0) continue;
                int row = i * n, brow = p * n;
                for (int j = 0; j < n; j++) c[row + j] += av * bt[brow + j];
            }
        }
        return c;
    }
}
