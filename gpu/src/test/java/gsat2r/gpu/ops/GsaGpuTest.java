package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertThrows;

import gsat2r.core.gsa.GsaChunked;
import gsat2r.core.gsa.GsaGradients;
import gsat2r.core.gsa.GsaInputs;
import gsat2r.core.gsa.GsaRecurrent;
import gsat2r.core.gsa.GsaShape;
import gsat2r.core.gsa.GsaState;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The GSA kernels against the CPU oracles of core: {@link GsaChunked} (forward, final state,
 * backward with initial/final-state gradients) and {@link GsaRecurrent#step} (decode), on the
 * values the device stores. Odd lengths (1, 63, 65, 130, 200: partial last chunks), K, V of 64 and
 * 128, 16/32/64 slots, GQA ratios 1, 2, 3, 4, with and without initial state, mild and strongly
 * negative gates; outputs poisoned with NaN. Tolerances: fp32 1e-4; bf16 2e-2, except dg under
 * gates of −5..−1 per token: 3e-2 (the chunked gate identity sums terms that cancel; bf16 operand
 * rounding in the tensor-core products is amplified; measured 2.0–2.2e-2 on the simulator).
 */
class GsaGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(1234);

    record Case(GsaShape shape, boolean initial, double gMin, double gMax) {}

    private static final Case[] CASES = {
        new Case(new GsaShape(1, 65, 2, 2, 64, 64, 16), false, -1.0, -0.01),
        new Case(new GsaShape(2, 1, 1, 1, 64, 128, 32), true, -0.5, -0.01),
        new Case(new GsaShape(1, 63, 3, 1, 128, 64, 64), true, -0.3, -0.01),
        new Case(new GsaShape(1, 200, 4, 1, 64, 64, 32), true, -5.0, -1.0),
        new Case(new GsaShape(2, 130, 4, 2, 128, 128, 64), true, -1.0, -0.01),
        new Case(new GsaShape(1, 200, 4, 4, 64, 64, 16), true, -5.0, -1.0),
        new Case(new GsaShape(2, 256, 2, 2, 128, 128, 64), false, -0.1, -0.001),
    };

    private static double tolerance(ElementType t) {
        return t == ElementType.BF16 ? 2e-2 : 1e-4;
    }

    /** Checks every output of every case before failing, so that one run reports them all. */
    private static void soft(List<String> failures, String name, float[] actual, float[] ref, double tol) {
        try {
            check(name, actual, ref, tol);
        } catch (AssertionError e) {
            failures.add(e.getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void chunkedForwardAndBackwardMatchTheCpuOracle(ElementType t) {
        Gpu gpu = gpu();
        List<String> failures = new ArrayList<>();
        for (Case c : CASES) {
            GsaShape sh = c.shape();
            String tag = t + "." + sh.toString().replace(" ", "") + (c.initial() ? ".h0" : "") + ".g" + c.gMin();
            float scale = (float) Math.pow(sh.keyDim(), -0.5);
            float[] q = stored(randn(RNG, sh.qSize(), 1), t), k = stored(randn(RNG, sh.kSize(), 1), t);
            float[] v = stored(randn(RNG, sh.vSize(), 1), t);
            float[] g = stored(uniform(RNG, sh.slotSize(), c.gMin(), c.gMax()), t);
            float[] s = new float[g.length];
            for (int i = 0; i < s.length; i++) s[i] = (float) -Math.expm1(g[i]);
            s = stored(s, t);
            GsaState h0 = c.initial() ? randomState(sh, 0.5) : null;
            GsaState dFinal = randomState(sh, 0.3);
            float[] dO = stored(randn(RNG, sh.oSize(), 1), t);
            GsaInputs in = new GsaInputs(sh, q, k, v, s, g, scale);
            GsaChunked.Forward ref = GsaChunked.forward(in, h0);
            GsaGradients grad = GsaChunked.backward(ref, dO, dFinal);

            try (DeviceBuffer qb = upload(q, t); DeviceBuffer kb = upload(k, t); DeviceBuffer vb = upload(v, t);
                 DeviceBuffer sb = upload(s, t); DeviceBuffer gb = upload(g, t); DeviceBuffer dOb = upload(dO, t);
                 DeviceBuffer ob = poisoned(t, sh.oSize());
                 DeviceBuffer hk0 = h0 == null ? null : gpu.upload(h0.hk(), ElementType.F32);
                 DeviceBuffer hv0 = h0 == null ? null : gpu.upload(h0.hv(), ElementType.F32);
                 DeviceBuffer hkT = poisoned(ElementType.F32, dFinal.hk().length);
                 DeviceBuffer hvT = poisoned(ElementType.F32, dFinal.hv().length);
                 DeviceBuffer dhkT = gpu.upload(dFinal.hk(), ElementType.F32); DeviceBuffer dhvT = gpu.upload(dFinal.hv(), ElementType.F32);
                 DeviceBuffer dq = poisoned(t, sh.qSize()); DeviceBuffer dk = poisoned(t, sh.kSize());
                 DeviceBuffer dv = poisoned(t, sh.vSize()); DeviceBuffer ds = poisoned(t, sh.slotSize());
                 DeviceBuffer dg = poisoned(t, sh.slotSize());
                 DeviceBuffer dhk0 = poisoned(ElementType.F32, dFinal.hk().length);
                 DeviceBuffer dhv0 = poisoned(ElementType.F32, dFinal.hv().length);
                 DeviceBuffer ds2 = poisoned(t, sh.slotSize()); DeviceBuffer dq2 = poisoned(t, sh.qSize())) {
                Gsa.Inputs inputs = new Gsa.Inputs(qb, kb, vb, sb, gb);
                Gsa.State initial = h0 == null ? null : new Gsa.State(hk0, hv0);
                float[] ds2Host, dq2Host;
                try (Gsa.Saved saved = Gsa.forward(gpu, sh, scale, inputs, ob, initial, new Gsa.State(hkT, hvT), true)) {
                    soft(failures, "gsa_fwd.o." + tag, ob.toFloatArray(), ref.o(), tolerance(t));
                    soft(failures, "gsa_fwd.final_hk." + tag, hkT.toFloatArray(), ref.finalState().hk(), tolerance(t));
                    soft(failures, "gsa_fwd.final_hv." + tag, hvT.toFloatArray(), ref.finalState().hv(), tolerance(t));
                    soft(failures, "gsa_fwd.p." + tag, saved.p().toFloatArray(), ref.p(), tolerance(t));
                    Gsa.backward(gpu, saved, inputs, dOb, new Gsa.State(dhkT, dhvT), new Gsa.Gradients(dq, dk, dv, ds, dg),
                            new Gsa.State(dhk0, dhv0));
                    // The same backward pass again: the kernels sum in a fixed order, so bit for bit the same.
                    try (DeviceBuffer dk2 = poisoned(t, sh.kSize()); DeviceBuffer dv2 = poisoned(t, sh.vSize());
                         DeviceBuffer dg2 = poisoned(t, sh.slotSize())) {
                        Gsa.backward(gpu, saved, inputs, dOb, new Gsa.State(dhkT, dhvT), new Gsa.Gradients(dq2, dk2, dv2, ds2, dg2), null);
                    }
                    ds2Host = ds2.toFloatArray();
                    dq2Host = dq2.toFloatArray();
                }
                soft(failures, "gsa_bwd.dq." + tag, dq.toFloatArray(), grad.dq(), tolerance(t));
                soft(failures, "gsa_bwd.dk." + tag, dk.toFloatArray(), grad.dk(), tolerance(t));
                soft(failures, "gsa_bwd.dv." + tag, dv.toFloatArray(), grad.dv(), tolerance(t));
                soft(failures, "gsa_bwd.ds." + tag, ds.toFloatArray(), grad.ds(), tolerance(t));
                double dgTol = t == ElementType.BF16 && c.gMin() < -2 ? 3e-2 : tolerance(t);
                soft(failures, "gsa_bwd.dg." + tag, dg.toFloatArray(), grad.dg(), dgTol);
                soft(failures, "gsa_bwd.dinitial_hk." + tag, dhk0.toFloatArray(), grad.dInitial().hk(), tolerance(t));
                soft(failures, "gsa_bwd.dinitial_hv." + tag, dhv0.toFloatArray(), grad.dInitial().hv(), tolerance(t));
                soft(failures, "gsa_bwd.repeat_ds." + tag, ds2Host, ds.toFloatArray(), 0);
                soft(failures, "gsa_bwd.repeat_dq." + tag, dq2Host, dq.toFloatArray(), 0);
            }
        }
        org.junit.jupiter.api.Assertions.assertTrue(failures.isEmpty(), failures.size() + " checks failed: " + String.join("; ", failures));
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void inferenceForwardKeepsNothingAndMatches(ElementType t) {
        Gpu gpu = gpu();
        GsaShape sh = new GsaShape(2, 100, 3, 1, 64, 64, 32);
        float[] q = stored(randn(RNG, sh.qSize(), 1), t), k = stored(randn(RNG, sh.kSize(), 1), t);
        float[] v = stored(randn(RNG, sh.vSize(), 1), t), g = stored(uniform(RNG, sh.slotSize(), -1, -0.01), t);
        float[] s = stored(uniform(RNG, sh.slotSize(), 0, 1), t);
        GsaChunked.Forward ref = GsaChunked.forward(new GsaInputs(sh, q, k, v, s, g, 1f), null);
        try (DeviceBuffer qb = upload(q, t); DeviceBuffer kb = upload(k, t); DeviceBuffer vb = upload(v, t);
             DeviceBuffer sb = upload(s, t); DeviceBuffer gb = upload(g, t); DeviceBuffer ob = poisoned(t, sh.oSize())) {
            Gsa.Saved none = Gsa.forward(gpu, sh, 1f, new Gsa.Inputs(qb, kb, vb, sb, gb), ob, null, null, false);
            org.junit.jupiter.api.Assertions.assertNull(none);
            check("gsa_fwd.inference." + t, ob.toFloatArray(), ref.o(), tolerance(t));
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void decodeStepsMatchTheRecurrence(ElementType t) {
        Gpu gpu = gpu();
        for (int[] dims : new int[][] {{2, 4, 2, 64, 64, 16}, {1, 3, 1, 128, 64, 64}, {3, 4, 4, 64, 128, 32}}) {
            int B = dims[0], H = dims[1], Hkv = dims[2], K = dims[3], V = dims[4], M = dims[5];
            GsaShape sh = new GsaShape(B, 1, H, Hkv, K, V, M);
            GsaState state = randomState(sh, 0.5);
            float scale = 0.7f;
            try (DeviceBuffer hk = gpu.upload(state.hk(), ElementType.F32); DeviceBuffer hv = gpu.upload(state.hv(), ElementType.F32)) {
                for (int step = 0; step < 3; step++) {
                    float[] q = stored(randn(RNG, B * H * K, 1), t), k = stored(randn(RNG, B * Hkv * K, 1), t);
                    float[] v = stored(randn(RNG, B * Hkv * V, 1), t), g = stored(uniform(RNG, B * Hkv * M, -3, -0.05), t);
                    float[] s = new float[g.length];
                    for (int i = 0; i < s.length; i++) s[i] = (float) -Math.expm1(g[i]);
                    s = stored(s, t);
                    float[] ref = GsaRecurrent.step(state, H, q, k, v, s, g, scale);
                    try (DeviceBuffer qb = upload(q, t); DeviceBuffer kb = upload(k, t); DeviceBuffer vb = upload(v, t);
                         DeviceBuffer sb = upload(s, t); DeviceBuffer gb = upload(g, t); DeviceBuffer ob = poisoned(t, (long) B * H * V)) {
                        Gsa.step(gpu, sh, scale, new Gsa.Inputs(qb, kb, vb, sb, gb), ob, new Gsa.State(hk, hv));
                        String tag = t + ".B" + B + "H" + H + "/" + Hkv + "K" + K + "V" + V + "M" + M + ".step" + step;
                        check("gsa_step.o." + tag, ob.toFloatArray(), ref, tolerance(t));
                    }
                }
                String tag = t + ".B" + B + "H" + H + "/" + Hkv + "K" + K + "V" + V + "M" + M;
                check("gsa_step.hk." + tag, hk.toFloatArray(), state.hk(), 1e-5);
                check("gsa_step.hv." + tag, hv.toFloatArray(), state.hv(), 1e-5);
            }
        }
    }

    /**
     * The chunk kernels are latency-bound: their bf16 layouts are sized so that several CTAs share a
     * Hopper SM (gsa_bwd_chunk two, gsa_fwd_out and gsa_bwd_dp three).
     */
    @Test
    void chunkKernelsRunSeveralCtasPerSmOnHopper() {
        Gpu gpu = gpu();
        boolean hopper = gpu.info().computeMajor() == 9;
        for (int slots : new int[] {16, 32, 64}) {
            for (String kernel : new String[] {"gsa_fwd_out", "gsa_bwd_dp", "gsa_bwd_chunk"}) {
                int ctas = Gsa.ctasPerSm(gpu, kernel, slots, ElementType.BF16);
                metric(kernel + ".ctas_per_sm.m" + slots + "_bf16", ctas, "CTAs");
                int want = !hopper ? 1 : kernel.equals("gsa_bwd_chunk") ? 2 : 3;
                org.junit.jupiter.api.Assertions.assertTrue(ctas >= want,
                        kernel + "_m" + slots + "_bf16: " + ctas + " CTAs per SM on " + gpu.info() + ", expected " + want);
            }
        }
    }

    @Test
    void unsupportedSizesAreRefusedWithAClearMessage() {
        Gpu gpu = gpu();
        GsaShape odd = new GsaShape(1, 10, 1, 1, 48, 64, 16);
        try (DeviceBuffer x = gpu.f32(1 << 12)) {
            Gsa.Inputs in = new Gsa.Inputs(x, x, x, x, x);
            var e = assertThrows(IllegalArgumentException.class, () -> Gsa.forward(gpu, odd, 1f, in, x, null, null, false));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("multiples of 64"), e.getMessage());
            GsaShape slots = new GsaShape(1, 10, 1, 1, 64, 64, 24);
            var e2 = assertThrows(IllegalArgumentException.class, () -> Gsa.forward(gpu, slots, 1f, in, x, null, null, false));
            org.junit.jupiter.api.Assertions.assertTrue(e2.getMessage().contains("slots"), e2.getMessage());
        }
    }

    private static GsaState randomState(GsaShape sh, double std) {
        int B = sh.batch(), Hkv = sh.kvHeads(), K = sh.keyDim(), M = sh.slots(), V = sh.valueDim();
        return new GsaState(B, Hkv, K, M, V, randn(RNG, B * Hkv * K * M, std), randn(RNG, B * Hkv * M * V, std));
    }
}
