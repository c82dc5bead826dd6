package gsat2r.core.model.gsa;

import java.util.List;

/**
 * The token mixer of one block (fla's {@code attn} module): a {@link GsaMixer} or, in a hybrid
 * student, an {@link AttentionMixer}. Inputs are the block's normed hidden states {@code x [B·T, d]}
 * of B sequences of T tokens; parameters are read from, and gradients added to, buffers in the
 * model's {@link GsaLayout}.
 */
public sealed interface Mixer permits GsaMixer, AttentionMixer {

    /** What a forward pass keeps for its backward; {@link #out()} is the mixer output {@code [B·T, d]}. */
    interface Pass {
        float[] out();

        int batch();

        int seqLen();
    }

    /** Runs the mixer over B whole sequences (positions 0..T−1), keeping what backward needs. */
    Pass forward(float[] params, float[] x, int batch, int seqLen);

    /**
     * Given {@code dOut = dL/d(out)}, adds {@code dL/dx} to {@code dx} (null: not wanted) and the
     * gradients of the mixer's tensors that are in {@code trainable} to {@code grads}.
     */
    void backward(Pass pass, float[] dOut, float[] dx, float[] params, float[] grads, ParameterGroup trainable);

    /** The mixer's parameter tensors. */
    List<ParameterView> views();
}
