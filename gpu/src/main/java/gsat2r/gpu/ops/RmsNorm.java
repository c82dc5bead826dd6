package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** RMSNorm over rows of {@code dim} (rmsnorm.cu): {@code y = w * x / sqrt(mean(x^2) + eps)}. */
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
     * {@code dx = d rmsnorm / dx} (overwritten, or added when {@code accumulate}) and
     * {@code dw += sum over rows} (fp32), from the forward pass's {@code rstd}.
     */
    public static void backward(Gpu gpu, DeviceBuffer dx, DeviceBuffer dw, DeviceBuffer dout, DeviceBuffer x, DeviceBuffer w,
                                DeviceBuffer rstd, int rows, int dim, boolean accumulate) {
        Checks.positive("rows", rows);
        Checks.positive("dim", dim);
        ElementType t = Checks.storage("x", x);
        Checks.buffer("x", x, t, (long) rows * dim);
        Checks.buffer("dout", dout, t, (long) rows * dim);
        Checks.buffer("dx", dx, t, (long) rows * dim);
        Checks.buffer("w", w, t, dim);
        Checks.buffer("dw", dw, ElementType.F32, dim);
        Checks.buffer("rstd", rstd, ElementType.F32, rows);
        long shared = 4L * dim;
        int limit = gpu.info().maxSharedMemoryPerBlockOptin();
        if (shared > limit) throw new IllegalArgumentException("rmsnorm backward: dim " + dim + " needs " + shared
                + " bytes of shared memory, the device allows " + limit);
        int grid = Math.max(1, Math.min((rows + WARPS - 1) / WARPS, 2 * gpu.info().multiprocessors()));
        gpu.kernel("rmsnorm_bwd", t).launch(gpu.stream(), grid, 32 * WARPS, (int) shared,
                dx, dw, dout, x, w, rstd, rows, dim, accumulate ? 1 : 0);
    }
}
