package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.MatmulShape;

/**
 * Matrix products through cuBLASLt (row-major, fp32 accumulation), with the three products of a
 * Linear layer {@code y = x W^T} spelled out.
 */
public final class Matmul {
    private Matmul() {}

    /** {@code c = alpha * op(a) op(b) + beta * c} for a {@link MatmulShape}; operand types and extents are checked. */
    public static void run(Gpu gpu, MatmulShape shape, DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, float alpha, float beta) {
        ElementType ab = a.type();
        if (ab.blasType() != shape.abType() || b.type() != ab) {
            throw new IllegalArgumentException("matmul operands are " + a.type() + " and " + b.type() + ", shape says " + shape.abType());
        }
        if (c.type().blasType() != shape.cType()) {
            throw new IllegalArgumentException("matmul output is " + c.type() + ", shape says " + shape.cType());
        }
        Checks.buffer("A", a, ab, shape.extentA());
        Checks.buffer("B", b, ab, shape.extentB());
        Checks.buffer("C", c, c.type(), shape.extentC());
        KernelTimes.gemm(gpu, "gemm " + gsat2r.gpu.cuda.CublasLt.describe(shape),
                () -> gpu.blas().matmul(shape, a.address(), b.address(), c.address(), alpha, beta, gpu.stream()));
    }

    /** Forward: {@code y[n,out] = x[n,in] W[out,in]^T}. */
    public static void linearForward(Gpu gpu, DeviceBuffer y, DeviceBuffer x, DeviceBuffer w, int n, int in, int out) {
        run(gpu, MatmulShape.of(false, true, n, out, in, x.type().blasType(), y.type().blasType()), x, w, y, 1f, 0f);
    }

    /** {@code y[n,out] += alpha · x[n,in] W[out,in]^T} (a low-rank branch added onto a projection's output). */
    public static void linearForwardAdd(Gpu gpu, DeviceBuffer y, DeviceBuffer x, DeviceBuffer w, int n, int in, int out, float alpha) {
        run(gpu, MatmulShape.of(false, true, n, out, in, x.type().blasType(), y.type().blasType()), x, w, y, alpha, 1f);
    }

    /** {@code dx[n,in] += alpha · dy[n,out] W[out,in]}. */
    public static void linearBackwardInputAdd(Gpu gpu, DeviceBuffer dx, DeviceBuffer dy, DeviceBuffer w, int n, int in, int out, float alpha) {
        run(gpu, MatmulShape.of(false, false, n, in, out, dy.type().blasType(), dx.type().blasType()), dy, w, dx, alpha, 1f);
    }

    /** {@code dW[out,in] += alpha · dy[n,out]^T x[n,in]}. */
    public static void linearBackwardWeightAdd(Gpu gpu, DeviceBuffer dw, DeviceBuffer dy, DeviceBuffer x, int n, int in, int out, float alpha) {
        run(gpu, MatmulShape.of(true, false, out, in, n, dy.type().blasType(), dw.type().blasType()), dy, x, dw, alpha, 1f);
    }

    /** Input gradient: {@code dx[n,in] (=|+=) dy[n,out] W[out,in]}. */
    public static void linearBackwardInput(Gpu gpu, DeviceBuffer dx, DeviceBuffer dy, DeviceBuffer w, int n, int in, int out,
                                           boolean accumulate) {
        run(gpu, MatmulShape.of(false, false, n, in, out, dy.type().blasType(), dx.type().blasType()), dy, w, dx, 1f, accumulate ? 1f : 0f);
    }

    /** Weight gradient: {@code dW[out,in] (=|+=) dy[n,out]^T x[n,in]} (dW is typically fp32 with bf16 inputs). */
    public static void linearBackwardWeight(Gpu gpu, DeviceBuffer dw, DeviceBuffer dy, DeviceBuffer x, int n, int in, int out,
                                            boolean accumulate) {
        run(gpu, MatmulShape.of(true, false, out, in, n, dy.type().blasType(), dw.type().blasType()), dy, x, dw, 1f, accumulate ? 1f : 0f);
    }
}
