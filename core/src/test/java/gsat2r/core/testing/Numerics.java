package gsat2r.core.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Error measures shared by the numeric tests: relative L2 error ‖a − ref‖ / ‖ref‖, NaN never passes. */
public final class Numerics {
    private Numerics() {}

    public static double relL2(float[] actual, float[] reference) {
        if (actual.length != reference.length) {
            fail("length " + actual.length + " != reference length " + reference.length);
        }
        double num = 0, den = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = (double) actual[i] - reference[i];
            num += d * d;
            den += (double) reference[i] * reference[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    public static double relL2(double[] actual, double[] reference) {
        if (actual.length != reference.length) {
            fail("length " + actual.length + " != reference length " + reference.length);
        }
        double num = 0, den = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = actual[i] - reference[i];
            num += d * d;
            den += reference[i] * reference[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    public static void assertRelL2(String what, float[] actual, float[] reference, double tol) {
        assertAllFinite(what, actual);
        double e = relL2(actual, reference);
        assertTrue(e <= tol, what + ": relative L2 error " + e + " > " + tol);
    }

    public static void assertRelL2(String what, double[] actual, double[] reference, double tol) {
        for (double v : actual) if (!Double.isFinite(v)) fail(what + ": non-finite value " + v);
        double e = relL2(actual, reference);
        assertTrue(e <= tol, what + ": relative L2 error " + e + " > " + tol);
    }

    public static void assertAllFinite(String what, float[] a) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) fail(what + ": non-finite value " + a[i] + " at " + i);
        }
    }

    public static float[] flatten(float[][] rows) {
        int n = 0;
        for (float[] r : rows) n += r.length;
        float[] out = new float[n];
        int o = 0;
        for (float[] r : rows) {
            System.arraycopy(r, 0, out, o, r.length);
            o += r.length;
        }
        return out;
    }
}
