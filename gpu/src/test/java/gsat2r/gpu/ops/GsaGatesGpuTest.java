package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The GSA layer's elementwise pieces: the gates {@code g = logsigmoid(f)/τ}, {@code s = 1 − exp(g)} and
 * their backward against float64 formulas (logits up to ±90, where naive formulas lose everything; core has
 * these only inside its GSA layer), and the output gate {@code RMSNorm(silu(o)) ⊙ w} forward and backward,
 * with dw accumulating, against core's {@code Silu} and {@code RmsNorm}.
 * Tolerances: fp32 1e-5, bf16 1e-2.
 */
class GsaGatesGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(99);

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void gatesForwardAndBackward(ElementType t) {
        Gpu gpu = gpu();
        int n = 10_007;
        float tau = 8f;
        float[] f = randn(RNG, n, 4);
        for (int i = 0; i < n; i += 97) f[i] = (float) (RNG.nextBoolean() ? 90 : -90) * RNG.nextFloat();
        f = stored(f, t);
        float[] dg = stored(randn(RNG, n, 1), t), ds = stored(randn(RNG, n, 1), t), df0 = stored(randn(RNG, n, 1), t);
        double[] g = new double[n], s = new double[n], df = new double[n], dfAcc = new double[n];
        for (int i = 0; i < n; i++) {
            double x = f[i];
            double logsig = Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
            g[i] = logsig / tau;
            s[i] = -Math.expm1(g[i]);
            df[i] = (dg[i] - ds[i] * Math.exp(g[i])) / (1 + Math.exp(x)) / tau;
            dfAcc[i] = df0[i] + df[i];
        }
        try (DeviceBuffer fb = upload(f, t); DeviceBuffer gb = poisoned(t, n); DeviceBuffer sb = poisoned(t, n);
             DeviceBuffer dgb = upload(dg, t); DeviceBuffer dsb = upload(ds, t); DeviceBuffer dfb = poisoned(t, n)) {
            GsaGates.forward(gpu, gb, sb, fb, n, tau);
            check("gsa_gates.g." + t, gb.toFloatArray(), g, tol(t));
            check("gsa_gates.s." + t, sb.toFloatArray(), s, tol(t));
            GsaGates.backward(gpu, dfb, dgb, dsb, fb, n, tau, false);
            check("gsa_gates.df." + t, dfb.toFloatArray(), df, tol(t));
            dfb.copyFrom(df0);
            GsaGates.backward(gpu, dfb, dgb, dsb, fb, n, tau, true);
            check("gsa_gates.df_accumulate." + t, dfb.toFloatArray(), dfAcc, tol(t));
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void outputGateForwardAndBackward(ElementType t) {
        Gpu gpu = gpu();
        float eps = 1e-5f;
        for (int dim : new int[] {384, 2048, 200}) {
            int rows = 77;
            float[] o = stored(randn(RNG, rows * dim, 2), t), w = stored(uniform(RNG, dim, 0.5, 1.5), t);
            float[] dy = stored(randn(RNG, rows * dim, 1), t), dw0 = randn(RNG, dim, 1);
            // As core's GSA layer computes it: a = silu(o), y = RMSNorm(a) ⊙ w; back through the norm, then silu.
            float[] a = new float[rows * dim], y = new float[rows * dim], rstd = new float[rows];
            float[] da = new float[rows * dim], dO = new float[rows * dim], dw = dw0.clone();
            gsat2r.core.cpu.Silu.forward(a, 0, o, 0, rows * dim);
            gsat2r.core.cpu.RmsNorm.forward(y, 0, a, 0, w, 0, rstd, 0, rows, dim, eps);
            gsat2r.core.cpu.RmsNorm.backward(da, 0, dw, 0, dy, 0, a, 0, w, 0, rstd, 0, rows, dim);
            gsat2r.core.cpu.Silu.backward(dO, 0, da, 0, o, 0, rows * dim);
            try (DeviceBuffer ob = upload(o, t); DeviceBuffer wb = upload(w, t); DeviceBuffer yb = poisoned(t, (long) rows * dim);
                 DeviceBuffer rb = poisoned(ElementType.F32, rows); DeviceBuffer dyb = upload(dy, t);
                 DeviceBuffer dOb = poisoned(t, (long) rows * dim); DeviceBuffer dwb = gpu.upload(dw0, ElementType.F32)) {
                GsaGates.outputGateForward(gpu, yb, rb, ob, wb, rows, dim, eps);
                check("gsa_ogate_fwd.y." + t + ".d" + dim, yb.toFloatArray(), y, tol(t));
                check("gsa_ogate_fwd.rstd." + t + ".d" + dim, rb.toFloatArray(), rstd, F32_TOL);
                GsaGates.outputGateBackwardDeterministic(gpu, dOb, dwb, dyb, ob, wb, rb, rows, dim, false);
                check("gsa_ogate_bwd.do." + t + ".d" + dim, dOb.toFloatArray(), dO, tol(t));
                check("gsa_ogate_bwd.dw." + t + ".d" + dim, dwb.toFloatArray(), dw, F32_TOL);
            }
        }
    }
}
