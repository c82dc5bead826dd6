package gsat2r.gpu.memory;

/**
 * bfloat16 on the host: the upper 16 bits of an IEEE float32. Conversion from float rounds to
 * nearest, ties to even (as torch's {@code .to(torch.bfloat16)} and the kernels'
 * {@code __float2bfloat16_rn}); NaN stays a (quiet) NaN.
 */
public final class Bf16 {
    private Bf16() {}

    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x0040);  // NaN: keep sign, force quiet
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    public static float toFloat(short b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    /** f rounded to the nearest bf16 value, as a float. */
    public static float round(float f) {
        return toFloat(fromFloat(f));
    }

    public static float[] round(float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = round(a[i]);
        return r;
    }
}
