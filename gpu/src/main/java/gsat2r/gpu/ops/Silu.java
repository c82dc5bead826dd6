package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** {@code silu(x) = x * sigmoid(x)} elementwise (swiglu.cu): GSA's feature map on q, k, v. */
public final class Silu {
    private Silu() {}

    public static void forward(Gpu gpu, DeviceBuffer out, DeviceBuffer x, long n) {
        Checks.positive("n", n);
        ElementType t = Checks.storage("x", x);
        Checks.buffer("x", x, t, n);
        Checks.buffer("out", out, t, n);
        gpu.kernel("silu_fwd", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 16 / t.bytes()), Checks.THREADS, 0, out, x, n);
    }

    /** {@code dx = dout * silu'(x)}, overwritten or added to dx when {@code accumulate}. */
    public static void backward(Gpu gpu, DeviceBuffer dx, DeviceBuffer dout, DeviceBuffer x, long n, boolean accumulate) {
        Checks.positive("n", n);
        ElementType t = Checks.storage("x", x);
        Checks.buffer("x", x, t, n);
        Checks.buffer("dout", dout, t, n);
        Checks.buffer("dx", dx, t, n);
        gpu.kernel("silu_bwd", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 16 / t.bytes()), Checks.THREADS, 0,
                dx, dout, x, n, accumulate ? 1 : 0);
    }
}
