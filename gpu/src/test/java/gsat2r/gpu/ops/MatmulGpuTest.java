package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import gsat2r.gpu.cuda.CublasLt;
import gsat2r.gpu.cuda.MatmulShape;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** cuBLASLt products (row-major through the transposed column-major call) against a float64 matmul. */
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
        double[] ref = CpuReference.matmul(a, b, m, n, k, ta, tb);
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
            Matmul.linearForward(g, y, xb, wb, n, in, out);
            check("linear.forward", y.toFloatArray(), CpuReference.matmul(x, w, n, out, in, false, true), 1e-5);
            Matmul.linearBackwardInput(g, dx, dyb, wb, n, in, out, false);
            check("linear.backward_input", dx.toFloatArray(), CpuReference.matmul(dy, w, n, in, out, false, false), 1e-5);
            dw.zero();
            Matmul.linearBackwardWeight(g, dw, dyb, xb, n, in, out, true);
            Matmul.linearBackwardWeight(g, dw, dyb, xb, n, in, out, true);
            double[] refW = CpuReference.matmul(dy, x, out, in, n, true, false);
            for (int i = 0; i < refW.length; i++) refW[i] *= 2;
            check("linear.backward_weight_accumulate", dw.toFloatArray(), refW, 1e-5);
        }
    }

    @Test
    void stridedBatches() {
        Gpu g = gpu();
        int batch = 5, m = 64, n = 48, k = 80;
        for (ElementType ab : new ElementType[] {ElementType.BF16, ElementType.F32}) {
            float[] a = stored(randn(RNG, batch * m * k, 1), ab), b = stored(randn(RNG, batch * n * k, 1), ab);
            MatmulShape shape = MatmulShape.batched(false, true, m, n, k, ab.blasType(), CublasLt.DataType.F32, batch);
            double[] ref = new double[batch * m * n];
            for (int z = 0; z < batch; z++) {
                float[] az = java.util.Arrays.copyOfRange(a, z * m * k, (z + 1) * m * k);
                float[] bz = java.util.Arrays.copyOfRange(b, z * n * k, (z + 1) * n * k);
                System.arraycopy(CpuReference.matmul(az, bz, m, n, k, false, true), 0, ref, z * m * n, m * n);
            }
            try (DeviceBuffer ad = upload(a, ab); DeviceBuffer bd = upload(b, ab); DeviceBuffer cd = poisoned(ElementType.F32, ref.length)) {
                Matmul.run(g, shape, ad, bd, cd, 1f, 0f);
                check("matmul.batched5." + ab, cd.toFloatArray(), ref, 1e-5);
            }
        }
    }
}
