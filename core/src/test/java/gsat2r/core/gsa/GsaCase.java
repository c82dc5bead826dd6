package gsat2r.core.gsa;

import java.util.SplittableRandom;

/**
 * A random GSA test case: inputs, an optional initial state and the loss weights
 * {@code dO, dFinal} of {@code L = Σ o·dO + Σ Hk_T·dHk_T + Σ Hv_T·dHv_T}.
 *
 * <p>Gates mix the regimes the layer meets: per slot, a log decay drawn once from a wide range
 * (from ≈ −0.002, a memory of hundreds of tokens, to −5, a slot that forgets at once) and jittered
 * per token; so a 64-token chunk sums up to G ≈ −320, where exp(−G) would overflow fp32.
 * s is either 1 − exp(g), as the layer ties it, or independent.
 */
record GsaCase(GsaInputs inputs, GsaState initial, float[] dO, GsaState dFinal) {

    enum Gates {
        /** per-slot rates from −0.002 to −5 */
        MIXED,
        /** every step below −1, down to −5 */
        STRONG
    }

    static GsaCase random(long seed, GsaShape sh, Gates gates, boolean tiedSlots, boolean withInitial) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] q = normal(rnd, sh.qSize()), k = normal(rnd, sh.kSize()), v = normal(rnd, sh.vSize());
        float[] s = new float[sh.slotSize()], g = new float[sh.slotSize()];
        double[] rate = new double[sh.batch() * sh.kvHeads() * sh.slots()];   // MIXED: log-uniform per slot
        for (int i = 0; i < rate.length; i++) rate[i] = Math.exp(rnd.nextDouble(Math.log(0.002), Math.log(5.0)));
        for (int b = 0; b < sh.batch(); b++) {
            for (int t = 0; t < sh.seqLen(); t++) {
                for (int kv = 0; kv < sh.kvHeads(); kv++) {
                    for (int m = 0; m < sh.slots(); m++) {
                        int i = sh.slot(b, t, kv) + m;
                        double logDecay = switch (gates) {
                            case MIXED -> -Math.min(5.0,
                                    rate[(b * sh.kvHeads() + kv) * sh.slots() + m] * rnd.nextDouble(0.5, 1.5));
                            case STRONG -> -rnd.nextDouble(1.0, 5.0);
                        };
                        g[i] = (float) logDecay;
                        s[i] = tiedSlots ? (float) -Math.expm1(g[i]) : (float) rnd.nextDouble(0.0, 1.0);
                    }
                }
            }
        }
        GsaInputs in = new GsaInputs(sh, q, k, v, s, g, 1.0f);
        GsaState initial = null;
        if (withInitial) {
            initial = GsaState.zeros(sh);
            fill(rnd, initial.hk(), 0.5);
            fill(rnd, initial.hv(), 0.5);
        }
        float[] dO = normal(rnd, sh.oSize());
        GsaState dFinal = GsaState.zeros(sh);
        fill(rnd, dFinal.hk(), 1.0);
        fill(rnd, dFinal.hv(), 1.0);
        return new GsaCase(in, initial, dO, dFinal);
    }

    /** The same case with q scaled by {@code scale} inside the operator. */
    GsaCase withScale(float scale) {
        GsaInputs in = inputs;
        return new GsaCase(new GsaInputs(in.shape(), in.q(), in.k(), in.v(), in.s(), in.g(), scale), initial, dO, dFinal);
    }

    GsaState initialOrZeros() {
        return initial == null ? GsaState.zeros(inputs.shape()) : initial.copy();
    }

    static float[] normal(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        fill(rnd, a, 1.0);
        return a;
    }

    static void fill(SplittableRandom rnd, float[] a, double std) {
        for (int i = 0; i < a.length; i++) a[i] = (float) (std * gaussian(rnd));
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = 1.0 - rnd.nextDouble(), w = rnd.nextDouble();
        return Math.sqrt(-2.0 * Math.log(u)) * Math.cos(2.0 * Math.PI * w);
    }
}
