package gsat2r.core.cpu;

/**
 * The gated part of the Llama MLP, {@code down(silu(gate(x)) ⊙ up(x))}: given the two projections
 * {@code gate} and {@code up} (each {@code n} values, any layout, the same for both), computes
 * {@code h = silu(gate) ⊙ up}, elementwise. The three projections are {@link Linear}s. As in
 * transformers, {@code silu(gate)} is rounded to fp32 before the product.
 */
public final class SwiGlu {
    private SwiGlu() {}

    /** {@code h = silu(gate) ⊙ up}; h may be gate or up. */
    public static void forward(float[] h, int hOff, float[] gate, int gateOff, float[] up, int upOff, int n) {
        Parallel.forRange(n, 16384, (i0, i1) -> {
            for (int i = i0; i < i1; i++) h[hOff + i] = Silu.apply(gate[gateOff + i]) * up[upOff + i];
        });
    }

    /**
     * Given {@code dh}: {@code dGate += dh ⊙ up ⊙ silu'(gate)}, {@code dUp += dh ⊙ silu(gate)}.
     * The gradients must not overlap the inputs.
     */
    public static void backward(float[] dGate, int dGateOff, float[] dUp, int dUpOff, float[] dh, int dhOff,
                                float[] gate, int gateOff, float[] up, int upOff, int n) {
        Parallel.forRange(n, 16384, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                float g = gate[gateOff + i], d = dh[dhOff + i];
                dGate[dGateOff + i] += (float) ((double) d * up[upOff + i] * Silu.derivative(g));
                dUp[dUpOff + i] += d * Silu.apply(g);
            }
        });
    }
}
