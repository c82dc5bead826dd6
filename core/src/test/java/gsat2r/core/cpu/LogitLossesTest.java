package gsat2r.core.cpu;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static gsat2r.core.cpu.Reference.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LogitLosses} against float64 definitions. Tolerances: losses 1e-9 relative (both in double);
 * gradients vs central differences of the float64 loss 1e-6 relative L2 (stored as fp32).
 */
class LogitLossesTest {

    static double naiveCrossEntropy(double[] z, int rows, int vocab, int[] targets) {
        double total = 0;
        for (int r = 0; r < rows; r++) {
            if (targets[r] < 0) continue;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < vocab; j++) max = Math.max(max, z[r * vocab + j]);
            double sum = 0;
            for (int j = 0; j < vocab; j++) sum += Math.exp(z[r * vocab + j] - max);
            total += max + Math.log(sum) - z[r * vocab + targets[r]];
        }
        return total;
    }

    static double naiveKl(double[] t, double[] s, int rows, int vocab, double tau) {
        double total = 0;
        for (int r = 0; r < rows; r++) {
            double[] p = softmax(t, r * vocab, vocab, tau), q = softmax(s, r * vocab, vocab, tau);
            for (int j = 0; j < vocab; j++) total += p[j] * Math.log(p[j] / q[j]);
        }
        return total;
    }

    static double[] softmax(double[] z, int off, int n, double tau) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) max = Math.max(max, z[off + j] / tau);
        double[] p = new double[n];
        double sum = 0;
        for (int j = 0; j < n; j++) sum += p[j] = Math.exp(z[off + j] / tau - max);
        for (int j = 0; j < n; j++) p[j] /= sum;
        return p;
    }

    @Test
    void crossEntropyValueAndGradient() {
        Random rnd = new Random(81);
        int rows = 5, vocab = 17;
        int[] targets = {3, LogitLosses.IGNORE, 0, 16, 3};
        float[] z = randn(rnd, rows * vocab, 3);
        float[] d0 = randn(rnd, z.length, 0.1), d = d0.clone();
        double loss = LogitLosses.crossEntropy(z, 0, rows, vocab, targets, 0, d, 0, 0.25f);
        double ref = naiveCrossEntropy(toDouble(z), rows, vocab, targets);
        assertEquals(ref, loss, 1e-9 * Math.abs(ref));
        double[] g = gradient(q -> 0.25 * naiveCrossEntropy(q, rows, vocab, targets), toDouble(z));
        check("CrossEntropy dlogits vs FD", minus(d, d0), g, 1e-6);
        for (int j = 0; j < vocab; j++) assertEquals(d0[vocab + j], d[vocab + j], "ignored row has no gradient");
    }

    @Test
    void klDivergenceValueAndGradient() {
        Random rnd = new Random(82);
        int rows = 4, vocab = 13;
        float tau = 2f;
        float[] t = randn(rnd, rows * vocab, 3), s = randn(rnd, rows * vocab, 3);
        float[] d0 = randn(rnd, s.length, 0.1), d = d0.clone();
        double loss = LogitLosses.klDivergence(t, 0, s, 0, rows, vocab, tau, d, 0, 0.5f);
        double ref = naiveKl(toDouble(t), toDouble(s), rows, vocab, tau);
        assertEquals(ref, loss, 1e-9 * Math.abs(ref));
        double[] g = gradient(q -> 0.5 * naiveKl(toDouble(t), q, rows, vocab, tau), toDouble(s));
        check("KL dstudent vs FD", minus(d, d0), g, 1e-6);
    }

    @Test
    void hugeLogitsStayFinite() {
        int vocab = 4;
        float[] z = {30000f, -30000f, 29990f, 0f};
        float[] d = new float[vocab];
        double ce = LogitLosses.crossEntropy(z, 0, 1, vocab, new int[] {2}, 0, d, 0, 1f);
        assertEquals(10 + Math.log1p(Math.exp(-10)), ce, 1e-9); // lse − z[2], lse = 30000 + log(1 + e^-10)
        for (float x : d) assertTrue(Float.isFinite(x));
        double kl = LogitLosses.klDivergence(z, 0, z, 0, 1, vocab, 1f, d, 0, 1f);
        assertEquals(0.0, kl, 1e-12);
        assertEquals(Math.log(Math.exp(-10) + 1), LogitLosses.logSumExp(new float[] {30000f, 29990f}, 0, 2) - 30000, 1e-9);
    }
}
