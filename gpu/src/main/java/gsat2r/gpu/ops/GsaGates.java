package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/**
 * The elementwise pieces of the GSA layer around the operator (gsa_gates.cu):
 * <ul>
 *   <li>the gates from the forget logits {@code f = x W_fᵀ}: {@code g = logsigmoid(f)/τ},
 *       {@code s = 1 − exp(g)}, and back {@code df = (dg − ds·exp(g))·sigmoid(−f)/τ};</li>
 *   <li>the output gate {@code y = RMSNorm(silu(o)) ⊙ w} over rows of {@code H·dv} (fla's
 *       {@code g_norm(swish(o))}), saving {@code rstd}, and its backward pass (train.cu).</li>
 * </ul>
 * Storage F32 or BF16 (one type per call), fp32 arithmetic; the weight gradient is fp32 and accumulates.
 */
public final class GsaGates {
    private GsaGates() {}

    private static final int WARPS = 8;

    /** {@code g = logsigmoid(f)/tau}, {@code s = 1 − exp(g)} for n elements. */
    public static void forward(Gpu gpu, DeviceBuffer g, DeviceBuffer s, DeviceBuffer f, long n, float tau) {
        Checks.positive("n", n);
        ElementType t = Checks.storage("f", f);
        Checks.buffer("f", f, t, n);
        Checks.buffer("g", g, t, n);
        Checks.buffer("s", s, t, n);
        requirePositive(tau);
        gpu.kernel("gsa_gate_fwd", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 1), Checks.THREADS, 0, g, s, f, n, 1f / tau);
    }

    /** {@code df = (dg − ds·exp(g))·sigmoid(−f)/tau} with g recomputed from f; overwritten, or added when {@code accumulate}. */
    public static void backward(Gpu gpu, DeviceBuffer df, DeviceBuffer dg, DeviceBuffer ds, DeviceBuffer f, long n, float tau,
                                boolean accumulate) {
        Checks.positive("n", n);
        ElementType t = Checks.storage("f", f);
        Checks.buffer("f", f, t, n);
        Checks.buffer("dg", dg, t, n);
        Checks.buffer("ds", ds, t, n);
        Checks.buffer("df", df, t, n);
        requirePositive(tau);
        gpu.kernel("gsa_gate_bwd", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 1), Checks.THREADS, 0,
                df, dg, ds, f, n, 1f / tau, accumulate ? 1 : 0);
    }

    /**
     * {@code y = silu(o) · rstd · w}, {@code rstd = 1/sqrt(mean(silu(o)²) + eps)} per row of {@code dim};
     * saves {@code rstd[rows]} (fp32) when not null. y may be o.
     */
    public static void outputGateForward(Gpu gpu, DeviceBuffer y, DeviceBuffer rstd, DeviceBuffer o, DeviceBuffer w, int rows, int dim,
                                         float eps) {
        Checks.positive("rows", rows);
        Checks.positive("dim", dim);
        ElementType t = Checks.storage("o", o);
        Checks.buffer("o", o, t, (long) rows * dim);
        Checks.buffer("y", y, t, (long) rows * dim);
        Checks.buffer("w", w, t, dim);
        if (rstd != null) Checks.buffer("rstd", rstd, ElementType.F32, rows);
        gpu.kernel("gsa_ogate_fwd", t).launch(gpu.stream(), (rows + WARPS - 1) / WARPS, 32 * WARPS, 0, y, rstd, o, w, rows, dim, eps);
    }

    /**
     * Gradient of {@link #outputGateForward} with respect to o (overwritten, or added when
     * {@code accumulate}; dO may be dy) and {@code dw += Σ_rows dy ⊙ silu(o)·rstd} (fp32; null when the
     * gate's weight is frozen). The same bits every run (no atomics; train.cu).
     */
    public static void outputGateBackwardDeterministic(Gpu gpu, DeviceBuffer dO, DeviceBuffer dw, DeviceBuffer dy, DeviceBuffer o,
                                                       DeviceBuffer w, DeviceBuffer rstd, int rows, int dim, boolean accumulate) {
        Checks.positive("rows", rows);
        Checks.positive("dim", dim);
        ElementType t = Checks.storage("o", o);
        Checks.buffer("o", o, t, (long) rows * dim);
        Checks.buffer("dy", dy, t, (long) rows * dim);
        Checks.buffer("dO", dO, t, (long) rows * dim);
        Checks.buffer("w", w, t, dim);
        if (dw != null) Checks.buffer("dw", dw, ElementType.F32, dim);
        Checks.buffer("rstd", rstd, ElementType.F32, rows);
        RmsNorm.deterministicRowNorm(gpu, "gsa_ogate_bwd_det", t, dO, dw, dy, o, w, rstd, rows, dim, accumulate);
    }

    private static void requirePositive(float tau) {
        if (!(tau > 0) || !Float.isFinite(tau)) throw new IllegalArgumentException("gate logit normaliser must be positive, got " + tau);
    }
}
