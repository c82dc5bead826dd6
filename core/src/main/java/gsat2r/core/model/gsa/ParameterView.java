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
public record ParameterView(String name, Kind kind, int layer, int offset, long[] shape) {

    /** Every kind of parameter tensor a student has. */
    public enum Kind {
        EMBEDDINGS, ATTN_NORM,
        /** GSA and attention layers alike. */
        Q_PROJ, K_PROJ, V_PROJ,
        /** Attention layers with {@code qkv_bias}. */
        Q_BIAS, K_BIAS, V_BIAS,
        /** GSA layers only: the slot gate projection and the output norm weight. */
        F_PROJ, G_NORM,
        O_PROJ, MLP_NORM, GATE_PROJ, UP_PROJ, DOWN_PROJ, FINAL_NORM, LM_HEAD
    }

    public ParameterView {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of floats. */
    public int size() {
        long n = 1;
        for (long d : shape) n *= d;
        return (int) n;
    }

    /** The first index after this tensor. */
    public int end() {
        return offset + size();
    }

    /** A copy of this tensor's values out of {@code buffer}. */
    public float[] copyFrom(float[] buffer) {
        return Arrays.copyOfRange(buffer, offset, end());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParameterView v && v.name.equals(name) && v.offset == offset && Arrays.equals(v.shape, shape);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + offset;
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + "@" + offset;
    }
}
