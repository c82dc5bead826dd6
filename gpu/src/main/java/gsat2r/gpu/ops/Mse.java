package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** The attention-transfer loss, mean squared error per row fused with its gradient (train.cu). */
public final class Mse {
    private Mse() {}

    private static final int WARPS = 8;

    /**
     * {@code loss[r] = Σ_j (y[r,j] − a[r,j])² / dim} (fp32 differences, summed in fp64) and, when
     * {@code dy} is not null, {@code dy = scale·(y − a)} (for the gradient of a sum of row losses
     * times g, pass {@code scale = 2g/dim}). dy may be y.
     */
    public static void rows(Gpu gpu, DeviceBuffer loss, DeviceBuffer dy, DeviceBuffer y, DeviceBuffer a, int rows, int dim, float scale) {
        Checks.positive("rows", rows);
        Checks.positive("dim", dim);
        ElementType t = Checks.storage("y", y);
        Checks.buffer("y", y, t, (long) rows * dim);
        Checks.buffer("a", a, t, (long) rows * dim);
        if (dy != null) Checks.buffer("dy", dy, t, (long) rows * dim);
        Checks.buffer("loss", loss, ElementType.F32, rows);
        gpu.kernel("mse_rows", t).launch(gpu.stream(), (rows + WARPS - 1) / WARPS, 32 * WARPS, 0, loss, dy, y, a, rows, dim, scale);
    }
}
