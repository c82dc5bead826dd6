package gsat2r.core.cpu;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static gsat2r.core.cpu.Reference.*;

/**
 * {@link ShortConv} against torch's {@code Conv1d(C, C, K, groups=C, padding=K−1)} written out in float64
 * (its first T outputs of each sequence): forward 1e-6 relative L2, backward (dx, and dw accumulated onto what
 * was there) against central differences of the float64 forward 1e-5. Two sequences, so no tap may reach
 * across the border; T shorter than K covers the first rows, where most taps see the zero padding.
 */
class ShortConvTest {

    static double[] naive(double[] x, double[] w, int batch, int seqLen, int channels, int taps) {
        double[] y = new double[batch * seqLen * channels];
        for (int b = 0; b < batch; b++) {
            for (int c = 0; c < channels; c++) {
                double[] padded = new double[seqLen + 2 * (taps - 1)];
                for (int t = 0; t < seqLen; t++) padded[t + taps - 1] = x[(b * seqLen + t) * channels + c];
                for (int t = 0; t < seqLen; t++) {
                    double acc = 0;
                    for (int j = 0; j < taps; j++) acc += w[c * taps + j] * padded[t + j];
                    y[(b * seqLen + t) * channels + c] = acc;
                }
            }
        }
        return y;
    }

    @Test
    void forwardAndBackwardMatchFloat64() {
        Random rnd = new Random(21);
        for (int[] shape : new int[][] {{2, 9, 5, 4}, {3, 2, 3, 4}, {1, 7, 2, 1}}) {
            int B = shape[0], T = shape[1], C = shape[2], K = shape[3];
            float[] x = randn(rnd, B * T * C, 1), w = randn(rnd, C * K, 0.5), dy = randn(rnd, B * T * C, 1);
            float[] y = new float[x.length];
            ShortConv.forward(y, x, w, 0, B, T, C, K);
            String what = "ShortConv B" + B + " T" + T + " C" + C + " K" + K;
            check(what + " forward vs f64", toDouble(y), naive(toDouble(x), toDouble(w), B, T, C, K), 1e-6);

            float[] dw0 = randn(rnd, w.length, 0.1), dw = dw0.clone(), dx = randn(rnd, x.length, 1);   // dx is overwritten
            ShortConv.backward(dx, dw, 0, dy, x, w, B, T, C, K);
            double[] p = concat(toDouble(x), toDouble(w));
            double[] g = gradient(q -> dot(toDouble(dy), naive(slice(q, 0, x.length), slice(q, x.length, w.length), B, T, C, K)), p);
            check(what + " dx vs FD", toDouble(dx), slice(g, 0, x.length), 1e-5);
            check(what + " dw vs FD", minus(dw, dw0), slice(g, x.length, w.length), 1e-5);
        }
    }
}
