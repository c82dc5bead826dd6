package gsat2r.core.gsa;

/**
 * An independent float64 GSA, written the way fla's {@code naive_recurrent_gsa} is: k, v, s, g
 * repeated to every query head, a state per query head, pass 1 over all tokens, softmax, then
 * pass 2; the final state reported is that of the first query head of each group. It shares no
 * code with the operator.
 */
final class GsaReference64 {
    final GsaShape sh;
    /** q, k, v, s, g, hk0, hv0 in the operator's layouts (hk0, hv0 per kv head; zeros when absent). */
    final double[][] x;
    final double scale;
    static final int Q = 0, KEY = 1, VAL = 2, S = 3, G = 4, HK0 = 5, HV0 = 6;
    static final String[] NAMES = {"q", "k", "v", "s", "g", "hk0", "hv0"};

    GsaReference64(GsaCase c) {
        GsaInputs in = c.inputs();
        sh = in.shape();
        scale = in.scale();
        GsaState init = c.initialOrZeros();
        x = new double[][]{wide(in.q()), wide(in.k()), wide(in.v()), wide(in.s()), wide(in.g()),
                wide(init.hk()), wide(init.hv())};
    }

    static double[] wide(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    /** o [B,T,H,V], hkT [B,Hkv,K,M], hvT [B,Hkv,M,V]. */
    record Result(double[] o, double[] hkT, double[] hvT) {}

    Result run() {
        int B = sh.batch(), T = sh.seqLen(), H = sh.heads(), Hkv = sh.kvHeads(), K = sh.keyDim(),
                V = sh.valueDim(), M = sh.slots(), group = H / Hkv;
        double[] q = x[Q], k = x[KEY], v = x[VAL], s = x[S], g = x[G];
        double[] o = new double[B * T * H * V], hkT = new double[B * Hkv * K * M], hvT = new double[B * Hkv * M * V];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                int kv = h / group;
                double[][] hk = new double[K][M], hv = new double[M][V];
                for (int a = 0; a < K; a++)
                    for (int m = 0; m < M; m++) hk[a][m] = x[HK0][((b * Hkv + kv) * K + a) * M + m];
                for (int m = 0; m < M; m++)
                    for (int c = 0; c < V; c++) hv[m][c] = x[HV0][((b * Hkv + kv) * M + m) * V + c];
                double[][] ok = new double[T][M];
                for (int t = 0; t < T; t++) {
                    int kt = ((b * T + t) * Hkv + kv), qt = ((b * T + t) * H + h);
                    for (int a = 0; a < K; a++)
                        for (int m = 0; m < M; m++)
                            hk[a][m] = hk[a][m] * Math.exp(g[kt * M + m]) + k[kt * K + a] * s[kt * M + m];
                    for (int m = 0; m < M; m++)
                        for (int a = 0; a < K; a++) ok[t][m] += scale * q[qt * K + a] * hk[a][m];
                }
                for (int t = 0; t < T; t++) {
                    int kt = ((b * T + t) * Hkv + kv), qt = ((b * T + t) * H + h);
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int m = 0; m < M; m++) max = Math.max(max, ok[t][m]);
                    double[] p = new double[M];
                    for (int m = 0; m < M; m++) sum += p[m] = Math.exp(ok[t][m] - max);
                    for (int m = 0; m < M; m++) p[m] /= sum;
                    for (int m = 0; m < M; m++)
                        for (int c = 0; c < V; c++)
                            hv[m][c] = hv[m][c] * Math.exp(g[kt * M + m]) + s[kt * M + m] * v[kt * V + c];
                    for (int c = 0; c < V; c++)
                        for (int m = 0; m < M; m++) o[qt * V + c] += p[m] * hv[m][c];
                }
                if (h % group == 0) {
                    for (int a = 0; a < K; a++)
                        for (int m = 0; m < M; m++) hkT[((b * Hkv + kv) * K + a) * M + m] = hk[a][m];
                    for (int m = 0; m < M; m++)
                        for (int c = 0; c < V; c++) hvT[((b * Hkv + kv) * M + m) * V + c] = hv[m][c];
                }
            }
        }
        return new Result(o, hkT, hvT);
    }

    /** L = Σ o·dO + Σ hkT·dHkT + Σ hvT·dHvT. */
    double loss(GsaCase c) {
        Result r = run();
        double l = 0;
        for (int i = 0; i < r.o.length; i++) l += r.o[i] * c.dO()[i];
        for (int i = 0; i < r.hkT.length; i++) l += r.hkT[i] * c.dFinal().hk()[i];
        for (int i = 0; i < r.hvT.length; i++) l += r.hvT[i] * c.dFinal().hv()[i];
        return l;
    }

    /** dL/dx[which] by central differences with step h (x restored afterwards). */
    double[] finiteDifference(GsaCase c, int which, double h) {
        double[] a = x[which], grad = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            double keep = a[i];
            a[i] = keep + h;
            double up = loss(c);
            a[i] = keep - h;
            double down = loss(c);
            a[i] = keep;
            grad[i] = (up - down) / (2 * h);
        }
        return grad;
    }
}
