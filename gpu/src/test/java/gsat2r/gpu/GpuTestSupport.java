package gsat2r.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Tag;

/**
 * Base of the GPU tests: one engine for the whole run (opened on first use), random inputs,
 * poisoned outputs, and error checks that print a {@code GPU-METRIC} line per comparison, which
 * scripts/device/gpu-suite.sh collects into its table. Tolerances: fp32 1e-5, bf16 1e-2 relative L2.
 */
@Tag("gpu")
public abstract class GpuTestSupport {
    public static final double F32_TOL = 1e-5;
    public static final double BF16_TOL = 1e-2;

    private static Gpu gpu;

    protected static synchronized Gpu gpu() {
        if (gpu == null) {
            gpu = Gpu.open();
            System.out.println("GPU-INFO " + gpu.info());
        }
        return gpu;
    }

    protected static double tol(ElementType t) {
        return t == ElementType.BF16 ? BF16_TOL : F32_TOL;
    }

    protected static float[] randn(Random r, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * std);
        return a;
    }

    protected static float[] uniform(Random r, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        return a;
    }

    /** The values the device will hold for {@code a} in storage type {@code t} (bf16 rounds). */
    protected static float[] stored(float[] a, ElementType t) {
        return t == ElementType.BF16 ? gsat2r.gpu.memory.Bf16.round(a) : a.clone();
    }

    protected static DeviceBuffer upload(float[] a, ElementType t) {
        return gpu().upload(a, t);
    }

    /** A buffer of {@code n} elements filled with NaN, so that an element the kernel skips fails the check. */
    protected static DeviceBuffer poisoned(ElementType t, long n) {
        DeviceBuffer b = gpu().allocate(t, n);
        b.poison();
        return b;
    }

    /** ‖actual − ref‖ / ‖ref‖ in double; NaN anywhere fails. Prints the metric, then asserts {@code <= tol}. */
    protected static double check(String name, float[] actual, double[] ref, double tol) {
        if (actual.length != ref.length) fail(name + ": " + actual.length + " values, reference has " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < actual.length; i++) {
            if (!Float.isFinite(actual[i])) fail(name + ": non-finite value " + actual[i] + " at " + i + " (unwritten or overflow)");
            double d = actual[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        double err = den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
        System.out.printf("GPU-METRIC %s %.3e %.0e%n", name, err, tol);
        assertTrue(err <= tol, name + ": relative L2 error " + err + " > " + tol);
        return err;
    }

    protected static double check(String name, float[] actual, float[] ref, double tol) {
        double[] r = new double[ref.length];
        for (int i = 0; i < r.length; i++) r[i] = ref[i];
        return check(name, actual, r, tol);
    }

    /** Prints a timing or throughput line for the suite's table. */
    protected static void metric(String name, double value, String unit) {
        System.out.printf("GPU-METRIC %s %.4g %s%n", name, value, unit);
    }
}
