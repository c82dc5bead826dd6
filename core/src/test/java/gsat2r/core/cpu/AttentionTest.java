package gsat2r.core.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static gsat2r.core.cpu.Reference.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * {@link Attention} against a naive float64 causal softmax attention with GQA and sliding window
 * (query i sees keys j with 0 ≤ i − j < W, as transformers' Mistral masks). Tolerances: forward and
 * log-sum-exp 1e-6 relative L2; backward vs central differences of the float64 forward 1e-5; decoding
 * token by token from a (ring-buffer) KV cache equals the forward exactly.
 */
class AttentionTest {

    static double[][] naive(double[] q, double[] k, double[] v, int T, int H, int Hkv, int dh, int window, double scale) {
        double[] out = new double[T * H * dh], lse = new double[T * H];
        int group = H / Hkv;
        for (int h = 0; h < H; h++) {
            int g = h / group;
            for (int i = 0; i < T; i++) {
                double[] s = new double[T];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    if (window > 0 && i - j >= window) continue;
                    double dot = 0;
                    for (int d = 0; d < dh; d++) dot += q[i * H * dh + h * dh + d] * k[j * Hkv * dh + g * dh + d];
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) if (window <= 0 || i - j < window) sum += Math.exp(s[j] - max);
                lse[i * H + h] = max + Math.log(sum);
                for (int j = 0; j <= i; j++) {
                    if (window > 0 && i - j >= window) continue;
                    double p = Math.exp(s[j] - max) / sum;
                    for (int d = 0; d < dh; d++) out[i * H * dh + h * dh + d] += p * v[j * Hkv * dh + g * dh + d];
                }
            }
        }
        return new double[][] {out, lse};
    }

    /** GQA ratios 1, 3 and 4 (and 1 kv head), odd head sizes, windows shorter than T. */
    @ParameterizedTest(name = "T={0} H={1} Hkv={2} dh={3} window={4}")
    @CsvSource({"11,3,3,4,0", "11,6,2,5,0", "12,8,2,6,4", "13,6,2,5,5", "9,4,1,3,3", "7,4,4,2,1"})
    void forwardAndBackwardMatchFloat64(int T, int H, int Hkv, int dh, int window) {
        Random rnd = new Random(T * 131 + H * 17 + window);
        float scale = Attention.defaultScale(dh);
        float[] q = randn(rnd, T * H * dh, 1), k = randn(rnd, T * Hkv * dh, 1), v = randn(rnd, T * Hkv * dh, 1);
        float[] out = new float[q.length], lse = new float[T * H];
        Attention.forward(out, 0, lse, 0, q, 0, k, 0, v, 0, T, H, Hkv, dh, window, scale);
        double[][] ref = naive(toDouble(q), toDouble(k), toDouble(v), T, H, Hkv, dh, window, scale);
        String c = " (H " + H + "/" + Hkv + ", W " + window + ")";
        check("Attention forward vs f64" + c, toDouble(out), ref[0], 1e-6);
        check("Attention lse vs f64" + c, toDouble(lse), ref[1], 1e-6);

        float[] dout = randn(rnd, q.length, 1);
        float[] dq0 = randn(rnd, q.length, 0.1), dk0 = randn(rnd, k.length, 0.1), dv0 = randn(rnd, v.length, 0.1);
        float[] dq = dq0.clone(), dk = dk0.clone(), dv = dv0.clone();
        Attention.backward(dq, 0, dk, 0, dv, 0, dout, 0, q, 0, k, 0, v, 0, lse, 0, T, H, Hkv, dh, window, scale);
        int nq = q.length, nk = k.length;
        double[] g = gradient(p -> dot(toDouble(dout), naive(slice(p, 0, nq), slice(p, nq, nk), slice(p, nq + nk, nk),
                T, H, Hkv, dh, window, scale)[0]), concat(toDouble(q), toDouble(k), toDouble(v)));
        check("Attention dq vs FD" + c, minus(dq, dq0), slice(g, 0, nq), 1e-5);
        check("Attention dk vs FD" + c, minus(dk, dk0), slice(g, nq, nk), 1e-5);
        check("Attention dv vs FD" + c, minus(dv, dv0), slice(g, nq + nk, nk), 1e-5);
    }

    /** The probabilities weigh the values into the float64 forward's output; each row sums to 1, zero outside its keys. */
    @ParameterizedTest(name = "T={0} H={1} Hkv={2} dh={3} window={4}")
    @CsvSource({"11,6,2,5,0", "12,8,2,6,4", "9,4,1,3,3"})
    void probabilitiesWeighTheValuesIntoTheForward(int T, int H, int Hkv, int dh, int window) {
        Random rnd = new Random(T * 7 + H + window);
        float scale = Attention.defaultScale(dh);
        int off = 2;
        float[] q = randn(rnd, off + T * H * dh, 1), k = randn(rnd, off + T * Hkv * dh, 1), v = randn(rnd, T * Hkv * dh, 1);
        float[] p = Attention.probabilities(q, off, k, off, T, H, Hkv, dh, window, scale);
        double[] out = new double[T * H * dh];
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < T; i++) {
                double sum = 0;
                for (int j = 0; j < T; j++) {
                    double pij = p[(h * T + i) * T + j];
                    boolean sees = j <= i && (window <= 0 || i - j < window);
                    if (!sees) org.junit.jupiter.api.Assertions.assertEquals(0.0, pij, "head " + h + " query " + i + " key " + j);
                    sum += pij;
                    for (int d = 0; d < dh; d++) out[i * H * dh + h * dh + d] += pij * v[j * Hkv * dh + (h / (H / Hkv)) * dh + d];
                }
                org.junit.jupiter.api.Assertions.assertEquals(1.0, sum, 1e-6);
            }
        }
        double[][] ref = naive(toDouble(q, off, T * H * dh), toDouble(k, off, T * Hkv * dh), toDouble(v), T, H, Hkv, dh, window, scale);
        check("Attention probabilities · v vs f64", out, ref[0], 1e-6);
    }

    @ParameterizedTest(name = "window={0}")
    @CsvSource({"0", "32"})
    void longerSequencesWithOffsets(int window) {
        Random rnd = new Random(51 + window);
        int T = 100, H = 6, Hkv = 2, dh = 64, off = 3;
        float scale = Attention.defaultScale(dh);
        float[] q = randn(rnd, off + T * H * dh, 1), k = randn(rnd, off + T * Hkv * dh, 1), v = randn(rnd, off + T * Hkv * dh, 1);
        float[] out = new float[off + T * H * dh];
        Attention.forward(out, off, null, 0, q, off, k, off, v, off, T, H, Hkv, dh, window, scale);
        double[][] ref = naive(toDouble(q, off, T * H * dh), toDouble(k, off, T * Hkv * dh), toDouble(v, off, T * Hkv * dh),
                T, H, Hkv, dh, window, scale);
        check("Attention forward T=100 W=" + window, toDouble(out, off, T * H * dh), ref[0], 1e-6);
    }

    @ParameterizedTest(name = "window={0}")
    @CsvSource({"0", "5"})
    void decodingFromTheCacheEqualsTheForward(int window) {
        Random rnd = new Random(61);
        int T = 23, H = 4, Hkv = 2, dh = 8;
        float scale = Attention.defaultScale(dh);
        int kw = Hkv * dh;
        float[] q = randn(rnd, T * H * dh, 1), k = randn(rnd, T * kw, 1), v = randn(rnd, T * kw, 1);
        float[] out = new float[q.length];
        Attention.forward(out, 0, null, 0, q, 0, k, 0, v, 0, T, H, Hkv, dh, window, scale);
        int capacity = window > 0 ? window : T; // a ring buffer of exactly the window
        float[] kc = new float[capacity * kw], vc = new float[capacity * kw], step = new float[H * dh];
        for (int p = 0; p < T; p++) {
            System.arraycopy(k, p * kw, kc, (p % capacity) * kw, kw);
            System.arraycopy(v, p * kw, vc, (p % capacity) * kw, kw);
            Attention.decode(step, 0, q, p * H * dh, kc, vc, capacity, p, H, Hkv, dh, window, scale);
            assertArrayEquals(java.util.Arrays.copyOfRange(out, p * H * dh, (p + 1) * H * dh), step, "position " + p);
        }
    }

    @Test
    void windowOfOneAttendsToItselfOnly() {
        Random rnd = new Random(71);
        int T = 5, H = 2, dh = 3;
        float[] q = randn(rnd, T * H * dh, 1), k = randn(rnd, T * H * dh, 1), v = randn(rnd, T * H * dh, 1);
        float[] out = new float[q.length];
        Attention.forward(out, 0, null, 0, q, 0, k, 0, v, 0, T, H, H, dh, 1, 1f);
        assertArrayEquals(v, out);
    }
}
