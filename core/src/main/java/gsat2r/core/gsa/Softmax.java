package gsat2r.core.gsa;

/** Softmax over the M slots of one (token, query head), fp32, shifted by the maximum so exp never overflows. */
final class Softmax {
    private Softmax() {}

    static void forward(float[] x, int xOff, float[] y, int yOff, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[xOff + i]);
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[xOff + i] - max);
            y[yOff + i] = e;
            sum += e;
        }
        for (int i = 0; i < n; i++) y[yOff + i] /= sum;
    }

    /** dx = p ⊙ (dp − ⟨p, dp⟩), the gradient through p = softmax(x). */
    static void backward(float[] p, int pOff, float[] dp, int dpOff, float[] dx, int dxOff, int n) {
        float pDotDp = 0f;
        for (int i = 0; i < n; i++) pDotDp += p[pOff + i] * dp[dpOff + i];
        for (int i = 0; i < n; i++) dx[dxOff + i] = p[pOff + i] * (dp[dpOff + i] - pDotDp);
    }
}
