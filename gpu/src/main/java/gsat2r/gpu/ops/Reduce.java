package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** Small deterministic reductions (optim.cu). */
public final class Reduce {
    private Reduce() {}

    /** {@code out[0] = sum(x[0..n))} in fp64, fixed order (e.g. the per-row losses). */
    public static void sum(Gpu gpu, DeviceBuffer out, DeviceBuffer x, long n) {
        Checks.positive("n", n);
        Checks.buffer("x", x, ElementType.F32, n);
        Checks.buffer("out", out, ElementType.F32, 1);
        gpu.kernel("sum_f32").launch(gpu.stream(), 1, 1024, 0, out, x, n);
    }
}
