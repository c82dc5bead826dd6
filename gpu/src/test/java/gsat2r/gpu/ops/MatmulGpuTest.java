package gsat2r.gpu.ops;

import gsat2r.core.cpu.Linear;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import gsat2r.gpu.cuda.CublasLt;
import gsat2r.gpu.cuda.MatmulShape;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * cuBLASLt products (row-major through the transposed column-major call) against core's fp32 {@code Matmul}
 * and {@link Linear}. The reference's own rounding (fp32 sums of up to 1001 products: a few 1e-7 relative)
 * stays far below the fp32 tolerance.
 */
class MatmulGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(3);

    /** Tolerances: fp32 compute on fp32 data ~1e-6; TF32 inputs keep 10 mantissa bits (~5e-4); bf16 outputs round to 8 bits. */
    private static double tolerance(ElementType ab, ElementType c, CublasLt.Compute compute) {
        if (c == ElementType.BF16) return BF16_TOL;
        if (compute == CublasLt.Compute.F32_FAST_TF32) return 2e-3;
        return ab == ElementType.F32 ? F32_TOL : 1e-5;  // bf16 inputs, fp32 output: exact products, fp32 sums
    }

    private static void product(String name, boolean ta, boolean tb, int m, int n, int k, ElementType ab, ElementType c,
                                CublasLt.Compute compute) {
        Gpu g = gpu();
        float[] a = stored(randn(RNG, m * k, 1), ab), b = stored(randn(RNG, k * n, 1), ab), c0 = stored(randn(RNG, m * n, 1), c);
        float[] ref = coreProduct(a, b, m, n, k, ta, tb);
        MatmulShape shape = MatmulShape.of(ta, tb, m, n, k, ab.blasType(), c.blasType()).withCompute(compute);
        String tag = name + "." + (ta ? "T" : "N") + (tb ? "T" : "N") + "." + m + "x" + n + "x" + k + "." + ab + "->" + c
                + (compute == CublasLt.Compute.F32 ? "" : ".tf32");
        try (DeviceBuffer ad = upload(a, ab); DeviceBuffer bd = upload(b, ab); DeviceBuffer cd = poisoned(c, (long) m * n)) {
            Matmul.run(g, shape, ad, bd, cd, 1f, 0f);
            check("matmul." + tag, cd.toFloatArray(), ref, tolerance(ab, c, compute));
            // beta = 1 accumulates; alpha scales.
            cd.copyFrom(c0);
            Matmul.run(g, shape, ad, bd, cd, 0.5f, 1f);
            double[] acc = new double[ref.length];
            for (int i = 0; i < acc.length; i++) acc[i] = c0[i] + 0.5 * ref[i];
            check("matmul.accumulate." + tag, cd.toFloatArray(), acc, tolerance(ab, c, compute));
        }
    }

    /** Row-major {@code op(A)[m,k] · op(B)[k,n]}, A stored [m,k] or [k,m] ({@code ta}), B stored [k,n] or [n,k] ({@code tb}). */
    private static float[] coreProduct(float[] a, float[] b, int m, int n, int k, boolean ta, boolean tb) {
        float[] c = new float[m * n];
        gsat2r.core.cpu.Matmul.multiply(c, 0, n, a, 0, ta ? 1 : k, ta ? m : 1, b, 0, tb ? 1 : n, tb ? k : 1, m, k, n, false);
        return c;
    }

    @Test
    void allTransposesAndTypes() {
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                product("bf16", ta, tb, 256, 384, 128, ElementType.BF16, ElementType.F32, CublasLt.Compute.F32);
                product("bf16", ta, tb, 256, 384, 128, ElementType.BF16, ElementType.BF16, CublasLt.Compute.F32);
                product("f32", ta, tb, 256, 384, 128, ElementType.F32, ElementType.F32, CublasLt.Compute.F32);
            }
        }
        product("tf32", false, true, 512, 256, 384, ElementType.F32, ElementType.F32, CublasLt.Compute.F32_FAST_TF32);
    }

    @Test
    void oddSizes() {
        // Leading dimensions that are not multiples of 8 elements take cuBLASLt's unaligned kernels.
        product("odd", false, true, 67, 129, 45, ElementType.BF16, ElementType.F32, CublasLt.Compute.F32);
        product("odd", true, false, 33, 17, 1001, ElementType.BF16, ElementType.BF16, CublasLt.Compute.F32);
        product("odd", false, false, 1, 7, 3, ElementType.F32, ElementType.F32, CublasLt.Compute.F32);
    }

    @Test
    void linearLayerProducts() {
        Gpu g = gpu();
        int n = 512, in = 384, out = 1024;
        float[] x = stored(randn(RNG, n * in, 1), ElementType.BF16), w = stored(randn(RNG, out * in, 0.05), ElementType.BF16);
        float[] dy = stored(randn(RNG, n * out, 1), ElementType.BF16);
        try (DeviceBuffer xb = upload(x, ElementType.BF16); DeviceBuffer wb = upload(w, ElementType.BF16);
             DeviceBuffer dyb = upload(dy, ElementType.BF16); DeviceBuffer y = poisoned(ElementType.F32, (long) n * out);
             DeviceBuffer dx = poisoned(ElementType.F32, (long) n * in); DeviceBuffer dw = g.f32((long) out * in)) {
            float[] refY = new float[n * out], refDx = new float[n * in], refDw = new float[out * in];
            Linear.forward(refY, 0, x, 0, w, 0, null, 0, n, in, out);
            Linear.backward(refDx, 0, null, 0, null, 0, dy, 0, x, 0, w, 0, n, in, out);
            Linear.backward(null, 0, refDw, 0, null, 0, dy, 0, x, 0, w, 0, n, in, out);
            Linear.backward(null, 0, refDw, 0, null, 0, dy, 0, x, 0, w, 0, n, in, out);  // accumulated twice, as below
            Matmul.linearForward(g, y, xb, wb, n, in, out);
            check("linear.forward", y.toFloatArray(), refY, 1e-5);
            Matmul.linearBackwardInput(g, dx, dyb, wb, n, in, out, false);
            check("linear.backward_input", dx.toFloatArray(), refDx, 1e-5);
            dw.zero();
            Matmul.linearBackwardWeight(g, dw, dyb, xb, n, in, out, true);
            Matmul.linearBackwardWeight(g, dw, dyb, xb, n, in, out, true);
            check("linear.backward_weight_accumulate", dw.toFloatArray(), refDw, 1e-5);
        }
    }

    @Test
    void stridedBatches() {
        Gpu g = gpu();
        int batch = 5, m = 64, n = 48, k = 80;
        for (ElementType ab : new ElementType[] {ElementType.BF16, ElementType.F32}) {
            float[] a = stored(randn(RNG, batch * m * k, 1), ab), b = stored(randn(RNG, batch * n * k, 1), ab);
            MatmulShape shape = MatmulShape.batched(false, true, m, n, k, ab.blasType(), CublasLt.DataType.F32, batch);
            float[] ref = new float[batch * m * n];
            for (int z = 0; z < batch; z++) {  // A[z] [m,k] times B[z] [n,k] transposed
                gsat2r.core.cpu.Matmul.multiply(ref, z * m * n, n, a, z * m * k, k, 1, b, z * n * k, 1, k, m, k, n, false);
            }
            try (DeviceBuffer ad = upload(a, ab); DeviceBuffer bd = upload(b, ab); DeviceBuffer cd = poisoned(ElementType.F32, ref.length)) {
                Matmul.run(g, shape, ad, bd, cd, 1f, 0f);
                check("matmul.batched5." + ab, cd.toFloatArray(), ref, 1e-5);
            }
        }
    }
}
