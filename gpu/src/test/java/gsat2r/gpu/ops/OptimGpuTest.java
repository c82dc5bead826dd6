package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import gsat2r.gpu.memory.Bf16;
import gsat2r.training.AdamWStep;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** AdamW, the fp64 sums behind the gradient norm, and the cast to bf16. */
class OptimGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(5);

    /** The gradient norm as the CUDA backend takes it: one sum of squares over every gradient, in fp64, the same bits twice. */
    @Test
    void sumsOfSquaresOverSeveralBuffers() {
        Gpu g = gpu();
        int[] sizes = {1_000_003, 384, 7, 3 * 1024 * 1024};
        float[][] grads = new float[sizes.length][];
        double sumsq = 0, sum = 0;
        for (int i = 0; i < sizes.length; i++) {
            grads[i] = randn(RNG, sizes[i], 0.01);
            for (float v : grads[i]) {
                sumsq += (double) v * v;
                sum += v;
            }
        }
        DeviceBuffer[] bufs = new DeviceBuffer[sizes.length];
        for (int i = 0; i < sizes.length; i++) bufs[i] = g.upload(grads[i], ElementType.F32);
        try (DeviceBuffer out = g.i32(2)) {
            Reduce.sumF64(g, out, List.of(bufs), true);
            double got = Reduce.readDoubles(out)[0];
            check("sum_f64.squares", new float[] {(float) got}, new double[] {sumsq}, F32_TOL);
            Reduce.sumF64(g, out, List.of(bufs), true);
            assertEquals(Double.doubleToLongBits(got), Double.doubleToLongBits(Reduce.readDoubles(out)[0]), "deterministic");
            Reduce.sumF64(g, out, List.of(bufs), false);
            assertEquals(sum, Reduce.readDoubles(out)[0], 1e-9 * Math.sqrt(sumsq), "plain sum");
        } finally {
            for (DeviceBuffer b : bufs) b.close();
        }
    }

    /** Three steps (the second with a clip factor read from the device) against the CPU backends' optimizer, {@code training}'s AdamW. */
    @Test
    void adamwMatchesTheCpuOptimizerOverSteps() {
        Gpu g = gpu();
        int n = 100_003;
        AdamW.Hyper h = new AdamW.Hyper(0.05f, 0.9f, 0.95f, 1e-8f, 0.1f);
        float[] p0 = randn(RNG, n, 1);
        float[] p = p0.clone(), m = new float[n], v = new float[n];
        try (DeviceBuffer pb = g.upload(p0, ElementType.F32); DeviceBuffer bf = poisoned(ElementType.BF16, n);
             DeviceBuffer mb = g.f32(n); DeviceBuffer vb = g.f32(n); DeviceBuffer gb = g.f32(n); DeviceBuffer clip = g.f32(1)) {
            mb.zero();
            vb.zero();
            for (int step = 1; step <= 3; step++) {
                float[] grad = randn(RNG, n, 0.1);
                float factor = step == 2 ? 0.5f : 1f;  // step 2 runs with a clip factor from the device
                gb.copyFrom(grad);
                clip.copyFrom(new float[] {factor});
                AdamW.step(g, h, step, pb, bf, gb, mb, vb, step == 2 ? clip : null);
                AdamWStep s = new AdamWStep(step, h.lr(), h.beta1(), h.beta2(), h.eps(), h.weightDecay(), factor);
                gsat2r.training.optim.AdamW.update(p, grad, m, v, 0, n, s, h.weightDecay());
            }
            float[] got = pb.toFloatArray();
            double[] update = new double[n];
            float[] gotUpdate = new float[n];
            for (int i = 0; i < n; i++) {  // the updates, not the weights: an error of the step is then not hidden by |p|
                update[i] = (double) p[i] - p0[i];
                gotUpdate[i] = got[i] - p0[i];
            }
            check("adamw.update", gotUpdate, update, F32_TOL);
            check("adamw.m", mb.toFloatArray(), m, F32_TOL);
            check("adamw.v", vb.toFloatArray(), v, F32_TOL);
            assertArrayEquals(Bf16.round(got), bf.toFloatArray(), "bf16 copy is the rounded master weight");
        }
    }

    @Test
    void castsRoundToNearestEven() {
        Gpu g = gpu();
        int n = 1_000_001;
        float[] a = randn(RNG, n, 10);
        a[0] = Float.NaN;
        a[1] = Float.POSITIVE_INFINITY;
        a[2] = 1f + 0x1p-8f;           // a tie
        a[3] = 1f + 3 * 0x1p-8f;       // a tie the other way
        a[4] = Float.MIN_VALUE;        // subnormal
        a[5] = -0f;
        a[6] = Float.MAX_VALUE;
        float[] expected = Bf16.round(a);
        try (DeviceBuffer f = g.upload(a, ElementType.F32); DeviceBuffer b = poisoned(ElementType.BF16, n)) {
            Convert.toBf16(g, b, f, n);
            float[] got = b.toFloatArray();
            for (int i = 0; i < n; i++) {
                if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(expected[i])) {
                    throw new AssertionError("cast of " + a[i] + " gave " + got[i] + ", expected " + expected[i] + " at " + i);
                }
            }
            // Unaligned views (the element path).
            b.poison();
            Convert.toBf16(g, b.view(1, n - 1), f.view(1, n - 1), n - 1);
            float[] got2 = b.toFloatArray();
            for (int i = 1; i < n; i++) assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(got2[i]), "at " + i);
            System.out.println("GPU-METRIC cast_f32_to_bf16.bit_exact 0 0");
        }
    }
}
