package gsat2r.core.gsa;

/**
 * The inputs of one GSA call, fp32, in the layouts of {@link GsaShape}: {@code q [B,T,H,K]},
 * {@code k [B,T,Hkv,K]}, {@code v [B,T,Hkv,V]}, {@code s [B,T,Hkv,M]} (slot write strengths) and
 * {@code g [B,T,Hkv,M]} (log decays). Arrays are referenced, not copied.
 *
 * <p>g is a log decay and should be ≤ 0 (the layer's {@code logsigmoid(f)/τ} is): the chunked
 * form then only ever takes exp of non-positive numbers. s and g are independent inputs here; the
 * layer ties them ({@code s = 1 − exp(g)}) and does that chain rule itself.
 *
 * @param scale multiplies q (fla's {@code scale}; the GSA layer uses 1.0)
 */
public record GsaInputs(GsaShape shape, float[] q, float[] k, float[] v, float[] s, float[] g, float scale) {

    public GsaInputs {
        requireLength("q", q, shape.qSize(), "[B,T,H,K]", shape);
        requireLength("k", k, shape.kSize(), "[B,T,Hkv,K]", shape);
        requireLength("v", v, shape.vSize(), "[B,T,Hkv,V]", shape);
        requireLength("s", s, shape.slotSize(), "[B,T,Hkv,M]", shape);
        requireLength("g", g, shape.slotSize(), "[B,T,Hkv,M]", shape);
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("GSA scale must be finite, got " + scale);
        }
    }

    static void requireLength(String name, float[] a, int expected, String layout, GsaShape shape) {
        if (a == null) {
            throw new IllegalArgumentException("GSA " + name + " is missing");
        }
        if (a.length != expected) {
            throw new IllegalArgumentException("GSA " + name + " has " + a.length + " floats; " + layout
                    + " with " + shape + " needs " + expected);
        }
    }
}
