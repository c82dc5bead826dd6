package gsat2r.core.model.gsa;

import java.util.Arrays;

/**
 * One named tensor of a student's parameter buffer: {@code buffer[offset, offset + size)} holds it
 * row-major in its checkpoint shape ({@code [out, in]} for projections, as fla and torch store them).
 * The gradient buffer has the same layout, so the same view addresses a tensor's gradient.
 *
 * @param name  the fla checkpoint key, e.g. {@code model.layers.3.attn.f_proj.weight}
 * @param kind  what the tensor is
 * @param layer the block index, or -1 for model-scope tensors (embeddings, final norm, lm_head)
 */
public record ParameterView(String name, Kind kind, int layer, long offset, long[] shape) {

    /** Every kind of parameter tensor a student has. */
    public enum Kind {
        EMBEDDINGS, ATTN_NORM,
        /** GSA and attention layers alike. */
        Q_PROJ, K_PROJ, V_PROJ,
        /** Attention layers with {@code qkv_bias}. */
        Q_BIAS, K_BIAS, V_BIAS,
        /** GSA layers only: the slot gate projection and the output norm weight. */
        F_PROJ, G_NORM,
        /** GSA layers with short convolutions: the depthwise kernels {@code [C, 1, taps]} of q, k and v. */
        Q_CONV, K_CONV, V_CONV,
        O_PROJ, MLP_NORM, GATE_PROJ, UP_PROJ, DOWN_PROJ, FINAL_NORM, LM_HEAD;

        /** Whether a tensor of this kind belongs to a layer's {@code attn} module. */
        public boolean isMixer() {
            return switch (this) {
                case Q_PROJ, K_PROJ, V_PROJ, Q_BIAS, K_BIAS, V_BIAS, F_PROJ, G_NORM, Q_CONV, K_CONV, V_CONV, O_PROJ -> true;
                default -> false;
            };
        }
    }

    public ParameterView {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of floats. */
    public long size() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** The first index after this tensor. */
    public long end() {
        return offset + size();
    }

    /** {@link #offset()} in a buffer that fits an array (the CPU model's; {@link GsaModel} checks the whole layout fits). */
    public int arrayOffset() {
        return Math.toIntExact(offset);
    }

    /** {@link #size()} of a tensor in an array. */
    public int arraySize() {
        return Math.toIntExact(size());
    }

    /** A copy of this tensor's values out of {@code buffer}. */
    public float[] copyFrom(float[] buffer) {
        return Arrays.copyOfRange(buffer, arrayOffset(), Math.toIntExact(end()));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParameterView v && v.name.equals(name) && v.offset == offset && Arrays.equals(v.shape, shape);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Long.hashCode(offset);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + "@" + offset;
    }
}
