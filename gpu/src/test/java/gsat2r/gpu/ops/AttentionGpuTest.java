package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Flash attention (forward with log-sum-exp, backward, decode from a ring-buffer cache) against
 * {@code gsat2r.core.cpu.Attention}, sequence by sequence, on the values the device stores: odd
 * lengths (1, 63, 65, 200), head dims 64 and 128, GQA ratios 1, 3, 4, full and sliding windows.
 * Tolerances: fp32 1e-4, bf16 2e-2 (relative L2).
 */
class AttentionGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(41);

    record Case(int batch, int seqLen, int heads, int kvHeads, int headDim, int window) {}

    private static final Case[] CASES = {
        new Case(2, 65, 2, 2, 64, 0),
        new Case(1, 63, 3, 1, 64, 0),
        new Case(1, 200, 4, 1, 128, 0),
        new Case(2, 130, 4, 4, 128, 17),
        new Case(1, 200, 8, 2, 64, 64),
        new Case(3, 1, 3, 1, 128, 0),
        new Case(1, 150, 6, 2, 64, 100),
        // several key blocks wholly inside the window (no per-element mask) beside partial ones
        new Case(1, 300, 4, 2, 64, 150),
    };

    private static double tolerance(ElementType t) {
        return t == ElementType.BF16 ? 2e-2 : 1e-4;
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void forwardBackwardMatchCpuAttention(ElementType t) {
        Gpu g = gpu();
        for (Case c : CASES) {
            int B = c.batch(), T = c.seqLen(), H = c.heads(), Hkv = c.kvHeads(), D = c.headDim();
            float scale = gsat2r.core.cpu.Attention.defaultScale(D);
            Attention.Shape s = new Attention.Shape(B, T, H, Hkv, D, c.window(), scale);
            String tag = t + ".B" + B + "T" + T + "H" + H + "/" + Hkv + "D" + D + "W" + c.window();
            float[] q = stored(randn(RNG, (int) s.qSize(), 1.5), t);
            float[] k = stored(randn(RNG, (int) s.kvSize(), 1.5), t);
            float[] v = stored(randn(RNG, (int) s.kvSize(), 1), t);
            float[] dO = stored(randn(RNG, (int) s.qSize(), 1), t);
            int qw = T * H * D, kw = T * Hkv * D;
            float[] o = new float[q.length], lse = new float[B * T * H];
            float[] dq = new float[q.length], dk = new float[k.length], dv = new float[v.length];
            for (int b = 0; b < B; b++) {
                gsat2r.core.cpu.Attention.forward(o, b * qw, lse, b * T * H, q, b * qw, k, b * kw, v, b * kw, T, H, Hkv, D, c.window(), scale);
                gsat2r.core.cpu.Attention.backward(dq, b * qw, dk, b * kw, dv, b * kw, dO, b * qw, q, b * qw, k, b * kw, v, b * kw,
                        lse, b * T * H, T, H, Hkv, D, c.window(), scale);
            }
            try (DeviceBuffer qb = upload(q, t); DeviceBuffer kb = upload(k, t); DeviceBuffer vb = upload(v, t);
                 DeviceBuffer dOb = upload(dO, t); DeviceBuffer ob = poisoned(t, s.qSize());
                 DeviceBuffer lseb = poisoned(ElementType.F32, s.rows()); DeviceBuffer dqb = poisoned(t, s.qSize());
                 DeviceBuffer dkb = poisoned(t, s.kvSize()); DeviceBuffer dvb = poisoned(t, s.kvSize())) {
                Attention.forward(g, s, ob, lseb, qb, kb, vb);
                check("attention_fwd.o." + tag, ob.toFloatArray(), o, tolerance(t));
                check("attention_fwd.lse." + tag, lseb.toFloatArray(), lse, t == ElementType.BF16 ? 1e-3 : 1e-5);
                Attention.backward(g, s, dqb, dkb, dvb, dOb, qb, kb, vb, ob, lseb);
                check("attention_bwd.dq." + tag, dqb.toFloatArray(), dq, tolerance(t));
                check("attention_bwd.dk." + tag, dkb.toFloatArray(), dk, tolerance(t));
                check("attention_bwd.dv." + tag, dvb.toFloatArray(), dv, tolerance(t));
            }
        }
    }

    /**
     * Queries after every multiple of 64 earlier positions against a cache of all the keys: the rows of one forward
     * over every position, bit for bit (batch 1, as a decoder's cache). The cache is longer than the keys, its rows
     * after them NaN, as a decoder's ring buffer holds rows not yet written: none of them may be read.
     */
    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void theForwardAfterPastPositionsIsTheWholeForwardsRows(ElementType t) {
        Gpu g = gpu();
        for (Case c : CASES) {
            if (c.batch() != 1 || c.seqLen() <= 64) continue;
            int T = c.seqLen(), H = c.heads(), Hkv = c.kvHeads(), D = c.headDim();
            float scale = gsat2r.core.cpu.Attention.defaultScale(D);
            Attention.Shape s = new Attention.Shape(1, T, H, Hkv, D, c.window(), scale);
            float[] q = stored(randn(RNG, (int) s.qSize(), 1.5), t);
            float[] k = stored(randn(RNG, (int) s.kvSize(), 1.5), t), v = stored(randn(RNG, (int) s.kvSize(), 1), t);
            int spare = 100 * Hkv * D;
            float[] kRing = java.util.Arrays.copyOf(k, k.length + spare), vRing = java.util.Arrays.copyOf(v, v.length + spare);
            java.util.Arrays.fill(kRing, k.length, kRing.length, Float.NaN);
            java.util.Arrays.fill(vRing, v.length, vRing.length, Float.NaN);
            try (DeviceBuffer qb = upload(q, t); DeviceBuffer kb = upload(k, t); DeviceBuffer vb = upload(v, t);
                 DeviceBuffer kr = upload(kRing, t); DeviceBuffer vr = upload(vRing, t); DeviceBuffer ob = poisoned(t, s.qSize())) {
                Attention.forward(g, s, ob, null, qb, kb, vb);
                float[] whole = ob.toFloatArray();
                for (int past = 64; past < T; past += 64) {
                    int rows = (T - past) * H * D;
                    Attention.Shape after = new Attention.Shape(1, T - past, H, Hkv, D, c.window(), scale);
                    try (DeviceBuffer qa = upload(java.util.Arrays.copyOfRange(q, past * H * D, T * H * D), t);
                         DeviceBuffer oa = poisoned(t, after.qSize())) {
                        Attention.forwardAfter(g, after, past, oa, qa, kr, vr);
                        float[] got = oa.toFloatArray();
                        org.junit.jupiter.api.Assertions.assertArrayEquals(java.util.Arrays.copyOfRange(whole, past * H * D, past * H * D + rows),
                                got, t + " T" + T + " W" + c.window() + " after " + past);
                    }
                }
            }
        }
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Attention.forwardAfter(g,
                new Attention.Shape(1, 2, 2, 2, 64, 0, 0.125f), 63, null, null, null, null), "past must be a multiple of 64");
    }

    /**
     * The bf16 tile kernels at D = 64 (Llama-3.2-1B's and tiny-llama's heads) fit several CTAs per
     * Hopper SM: attn_fwd and attn_bwd_dq four (125 and 128 registers, 45 and 54 KB of shared
     * memory), attn_bwd_dkdv three (167 registers, 54.5 KB).
     */
    @org.junit.jupiter.api.Test
    void tileKernelsRunSeveralCtasPerSmOnHopper() {
        Gpu g = gpu();
        boolean hopper = g.info().computeMajor() == 9;
        for (String kernel : new String[] {"attn_fwd", "attn_bwd_dq", "attn_bwd_dkdv"}) {
            int ctas = Attention.ctasPerSm(g, kernel, 64, ElementType.BF16);
            metric(kernel + ".ctas_per_sm.d64_bf16", ctas, "CTAs");
            int want = !hopper ? 1 : kernel.equals("attn_bwd_dkdv") ? 3 : 4;
            org.junit.jupiter.api.Assertions.assertTrue(ctas >= want,
                    kernel + "_d64_bf16: " + ctas + " CTAs per SM on " + g.info() + ", expected " + want);
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void decodeReadsARingBufferCache(ElementType t) {
        Gpu g = gpu();
        int B = 2, H = 6, Hkv = 2;
        for (int D : new int[] {64, 128}) {
            for (int window : new int[] {0, 40}) {
                int position = 99, capacity = window > 0 ? window : position + 1;
                float scale = gsat2r.core.cpu.Attention.defaultScale(D);
                Attention.Shape s = new Attention.Shape(B, 1, H, Hkv, D, window, scale);
                int row = Hkv * D;
                float[] kc = stored(randn(RNG, B * capacity * row, 1.5), t), vc = stored(randn(RNG, B * capacity * row, 1), t);
                float[] q = stored(randn(RNG, B * H * D, 1.5), t);
                float[] ref = new float[B * H * D];
                for (int b = 0; b < B; b++) {
                    float[] kOne = java.util.Arrays.copyOfRange(kc, b * capacity * row, (b + 1) * capacity * row);
                    float[] vOne = java.util.Arrays.copyOfRange(vc, b * capacity * row, (b + 1) * capacity * row);
                    gsat2r.core.cpu.Attention.decode(ref, b * H * D, q, b * H * D, kOne, vOne, capacity, position, H, Hkv, D, window, scale);
                }
                try (DeviceBuffer qb = upload(q, t); DeviceBuffer kb = upload(kc, t); DeviceBuffer vb = upload(vc, t);
                     DeviceBuffer ob = poisoned(t, (long) B * H * D)) {
                    Attention.decode(g, s, ob, qb, kb, vb, capacity, position);
                    check("attention_decode." + t + ".D" + D + "W" + window, ob.toFloatArray(), ref, tolerance(t));
                }
            }
        }
    }
}
