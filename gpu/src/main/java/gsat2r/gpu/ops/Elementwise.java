package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** Elementwise arithmetic the model needs between ops (train.cu): the residual add, per-row loss weights. */
public final class Elementwise {
    private Elementwise() {}

    /** {@code out = a + b} over n elements of one storage type (fp32 sum, rounded once); out may be a or b. */
    public static void add(Gpu gpu, DeviceBuffer out, DeviceBuffer a, DeviceBuffer b, long n) {
        Checks.positive("n", n);
        ElementType t = Checks.storage("a", a);
        Checks.buffer("a", a, t, n);
        Checks.buffer("b", b, t, n);
        Checks.buffer("out", out, t, n);
        gpu.kernel("add", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 16 / t.bytes()), Checks.THREADS, 0, out, a, b, n);
    }

    /** {@code x[r, :] *= w[r]} for {@code rows} rows of {@code cols} values ({@code w} fp32, one per row); fp32 product, rounded once. */
    public static void scaleRows(Gpu gpu, DeviceBuffer x, DeviceBuffer w, long rows, int cols) {
        Checks.positive("rows", rows);
        Checks.positive("cols", cols);
        ElementType t = Checks.storage("x", x);
        Checks.buffer("x", x, t, rows * cols);
        Checks.buffer("w", w, ElementType.F32, rows);
        gpu.kernel("scale_rows", t).launch(gpu.stream(), Checks.gridFor(gpu, rows * cols, 1), Checks.THREADS, 0, x, w, rows, cols);
    }
}
