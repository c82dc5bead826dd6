package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** RMSNorm over rows of {@code dim}: {@code y = w * x / sqrt(mean(x^2) + eps)} (rmsnorm.cu), backward in train.cu. */
public final class RmsNorm {
    private RmsNorm() {}

    private static final int WARPS = 8;

    /**
     * {@code out = rmsnorm(x) * w} for {@code rows} rows; x, w, out of one storage type; saves
     * {@code rstd[rows]} (fp32) for the backward pass when {@code rstd} is not null. out may be x.
     */
    public static void forward(Gpu gpu, DeviceBuffer out, DeviceBuffer rstd, DeviceBuffer x, DeviceBuffer w, int rows, int dim, float eps) {
        Checks.positive("rows", rows);
        Checks.positive("dim", dim);
        ElementType t = Checks.storage("x", x);
        Checks.buffer("x", x, t, (long) rows * dim);
        Checks.buffer("w", w, t, dim);
        Checks.buffer("out", out, t, (long) rows * dim);
        if (rstd != null) Checks.buffer("rstd", rstd, ElementType.F32, rows);
        int grid = (rows + WARPS - 1) / WARPS;
        gpu.kernel("rmsnorm_fwd", t).launch(gpu.stream(), grid, 32 * WARPS, 0, out, rstd, x, w, rows, dim, eps);
    }

    /**
     * {@code dx = d rmsnorm / dx} from the forward pass's {@code rstd}, overwritten (or added when
     * {@code accumulate}; dx may be dout), and {@code dw += Σ_rows} (fp32; null when the weight is frozen).
     * The same bits every run (no atomics: the per-block sums of dw are added in block order), as exact
     * resume needs.
     */
    public static void backwardDeterministic(Gpu gpu, DeviceBuffer dx, DeviceBuffer dw, DeviceBuffer dout, DeviceBuffer x,
                                             DeviceBuffer w, DeviceBuffer rstd, int rows, int dim, boolean accumulate) {
        Checks.positive("rows", rows);
        Checks.positive("dim", dim);
        ElementType t = Checks.storage("x", x);
        Checks.buffer("x", x, t, (long) rows * dim);
        Checks.buffer("dout", dout, t, (long) rows * dim);
        Checks.buffer("dx", dx, t, (long) rows * dim);
        Checks.buffer("w", w, t, dim);
        if (dw != null) Checks.buffer("dw", dw, ElementType.F32, dim);
        Checks.buffer("rstd", rstd, ElementType.F32, rows);
        deterministicRowNorm(gpu, "rmsnorm_bwd_det", t, dx, dw, dout, x, w, rstd, rows, dim, accumulate);
    }

    /** The launch shared by the deterministic RMSNorm and output-gate backward kernels (train.cu). */
    static void deterministicRowNorm(Gpu gpu, String kernel, ElementType t, DeviceBuffer dx, DeviceBuffer dw, DeviceBuffer dout,
                                     DeviceBuffer x, DeviceBuffer w, DeviceBuffer rstd, int rows, int dim, boolean accumulate) {
        int limit = gpu.info().maxSharedMemoryPerBlockOptin();
        int warps = (int) Math.min(WARPS, limit / (4L * dim));
        if (warps < 1) throw new IllegalArgumentException(kernel + ": dim " + dim + " needs " + 4L * dim
                + " bytes of shared memory per warp, the device allows " + limit);
        int grid = Math.max(1, Math.min((rows + warps - 1) / warps, 2 * gpu.info().multiprocessors()));
        try (DeviceBuffer partials = gpu.f32((long) grid * dim)) {
            gpu.kernel(kernel, t).launch(gpu.stream(), grid, 32 * warps, warps * dim * 4, dx, partials, dout, x, w, rstd, rows, dim,
                    accumulate ? 1 : 0);
            if (dw != null) {
                gpu.kernel("colsum_add_f32").launch(gpu.stream(), Checks.gridFor(gpu, dim, 1), Checks.THREADS, 0, dw, partials, grid, dim);
            }
        }
    }
}
