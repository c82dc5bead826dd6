package gsat2r.finetune.optim;

import gsat2r.training.optim.AdamW;
import gsat2r.core.data.SplitMix64;
import gsat2r.training.AdamWStep;
import gsat2r.training.ParameterInfo;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OptimTest {

    @Test
    void warmupThenCosineAtHandComputedPoints() {
        WarmupCosine s = new WarmupCosine(1e-3, 10, 110, 0.1);
        assertEquals(1e-4, s.lr(1), 1e-18, "first step: peak / W");
        assertEquals(5e-4, s.lr(5), 1e-18);
        assertEquals(1e-3, s.lr(10), 1e-18, "peak at the end of warmup");
        // n = 60: halfway through the cosine: min + (peak − min)/2 = 1e-4 + 4.5e-4.
        assertEquals(5.5e-4, s.lr(60), 1e-15);
        // n = 35: progress 0.25: min + (peak − min)·(1 + cos(π/4))/2.
        assertEquals(1e-4 + 9e-4 * (1 + Math.sqrt(0.5)) / 2, s.lr(35), 1e-15);
        assertEquals(1e-4, s.lr(110), 1e-18, "the last step runs at min");
        for (int n = 11; n < 110; n++) assertTrue(s.lr(n + 1) < s.lr(n), "decreasing after warmup at " + n);
        assertThrows(IllegalArgumentException.class, () -> s.lr(0));
        assertThrows(IllegalArgumentException.class, () -> s.lr(111));
        WarmupCosine noWarmup = new WarmupCosine(2.0, 0, 3, 0.0);
        assertEquals(1.5, noWarmup.lr(1), 1e-15, "(1 + cos(π/3))/2 · 2");
        assertEquals(0.5, noWarmup.lr(2), 1e-15);
        assertEquals(0.0, noWarmup.lr(3), 1e-15);
    }

    @Test
    void adamWFirstTwoStepsByHand() {
        // One weight, p = 1, g = 0.5 then −0.25, lr 0.1, β = (0.9, 0.999), ε = 1e-8, λ = 0.01.
        float[] p = {1f}, m = {0f}, v = {0f};
        AdamW.update(p, new float[] {0.5f}, m, v, 0, 1, new AdamWStep(1, 0.1, 0.9, 0.999, 1e-8, 0.01, 1.0), 0.01);
        // m = 0.05, v = 0.00025; m̂ = 0.5, sqrt(v̂) = 0.5: p = 1·(1 − 0.001) − 0.1·0.5/(0.5 + 1e-8)
        double p1 = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8);
        assertEquals(p1, p[0], 2e-7);
        assertEquals(0.05, m[0], 1e-9);
        assertEquals(0.00025, v[0], 5e-11);
        AdamW.update(p, new float[] {-0.25f}, m, v, 0, 1, new AdamWStep(2, 0.1, 0.9, 0.999, 1e-8, 0.01, 1.0), 0.01);
        double m2 = 0.9 * 0.05 + 0.1 * -0.25, v2 = 0.999 * 0.00025 + 0.001 * 0.0625;
        double p2 = p1 * (1 - 0.001) - 0.1 / (1 - 0.81) * m2 / (Math.sqrt(v2) / Math.sqrt(1 - 0.999 * 0.999) + 1e-8);
        assertEquals(m2, m[0], 1e-8);
        assertEquals(v2, v[0], 1e-10);
        assertEquals(p2, p[0], 1e-6);
    }

    @Test
    void adamWFollowsAFloat64ReferenceOverManySteps() {
        int n = 64;
        SplitMix64 rng = new SplitMix64(5);
        float[] p = new float[n], m = new float[n], v = new float[n];
        double[] rp = new double[n], rm = new double[n], rv = new double[n];
        for (int i = 0; i < n; i++) rp[i] = p[i] = (float) rng.nextGaussian();
        for (int t = 1; t <= 200; t++) {
            float[] g = new float[n];
            for (int i = 0; i < n; i++) g[i] = (float) (rng.nextGaussian() * 0.1 + 0.05 * p[i]);
            double clip = 0.7;
            AdamW.update(p, g, m, v, 0, n, new AdamWStep(t, 3e-3, 0.9, 0.95, 1e-8, 0.1, clip), 0.1);
            for (int i = 0; i < n; i++) {
                double gi = g[i] * clip;
                rm[i] = 0.9 * rm[i] + 0.1 * gi;
                rv[i] = 0.95 * rv[i] + 0.05 * gi * gi;
                double mh = rm[i] / (1 - Math.pow(0.9, t)), vh = rv[i] / (1 - Math.pow(0.95, t));
                rp[i] = rp[i] * (1 - 3e-3 * 0.1) - 3e-3 * mh / (Math.sqrt(vh) + 1e-8);
            }
        }
        double worst = 0;
        for (int i = 0; i < n; i++) worst = Math.max(worst, Math.abs(p[i] - rp[i]) / Math.max(1, Math.abs(rp[i])));
        assertTrue(worst < 1e-5, "fp32 AdamW drifted " + worst + " from the float64 reference in 200 steps");
    }

    @Test
    void weightDecaySkipsVectors() {
        assertTrue(AdamWStep.decays(new ParameterInfo("model.layers.0.attn.q_proj.weight", new long[] {4, 4})));
        assertTrue(AdamWStep.decays(new ParameterInfo("model.embeddings.weight", new long[] {10, 4})));
        assertFalse(AdamWStep.decays(new ParameterInfo("model.layers.0.attn.g_norm.weight", new long[] {4})));
        assertFalse(AdamWStep.decays(new ParameterInfo("model.norm.weight", new long[] {4})));
        AdamWStep s = new AdamWStep(1, 1e-3, 0.9, 0.95, 1e-8, 0.1, 1);
        assertEquals(0.0, s.weightDecayOf(new ParameterInfo("g", new long[] {4})));
        assertEquals(0.1, s.weightDecayOf(new ParameterInfo("w", new long[] {4, 4})));
        // With a zero gradient, a decayed weight shrinks by exactly lr·λ; a gain does not move.
        float[] w = {2f}, zero = {0f};
        AdamW.update(w, zero, new float[1], new float[1], 0, 1, s, 0.1);
        assertEquals(2f * (1f - 1e-4f), w[0]);
        float[] gain = {2f};
        AdamW.update(gain, zero, new float[1], new float[1], 0, 1, s, 0.0);
        assertEquals(2f, gain[0]);
    }

    @Test
    void clippingFactorIsTorchs() {
        assertEquals(1.0, GradientClipping.factor(0.5, 1.0));
        assertEquals(1.0 / (4.0 + 1e-6), GradientClipping.factor(4.0, 1.0), 1e-15);
        assertEquals(1.0, GradientClipping.factor(1e9, 0.0), "max norm 0 switches clipping off");
        // Clipped gradient has norm max_norm (up to the 1e-6 guard).
        double[] g = {3, 4};
        double f = GradientClipping.factor(5.0, 2.0);
        assertEquals(2.0, Math.hypot(g[0] * f, g[1] * f), 1e-6);
    }
}
