package gsat2r.core.model;

import gsat2r.core.gsa.GsaState;

import java.util.List;

/**
 * A copy of everything a {@link LanguageModel.Decoder} holds after {@code position} tokens: per layer,
 * either the constant-size recurrent state of a GSA layer or the key/value rows an attention layer still
 * reads (all positions, or the last {@code window} of them). Restoring it into a fresh decoder of the
 * same model continues the sequence exactly as the decoder it was taken from would have (same
 * arithmetic, bit for bit). Independent of the decoder: its arrays are copies.
 *
 * @param position tokens consumed so far
 * @param layers   one entry per layer, in layer order
 */
public record DecoderState(int position, List<LayerState> layers) {

    public DecoderState {
        if (position < 0) throw new IllegalArgumentException("negative position " + position);
        layers = List.copyOf(layers);
        for (int l = 0; l < layers.size(); l++) {
            if (layers.get(l).layer() != l) {
                throw new IllegalArgumentException("layer state " + l + " is for layer " + layers.get(l).layer());
            }
        }
    }

    /** Bytes of fp32 state held (what a state file's payload spends on the layers). */
    public long bytes() {
        long b = 0;
        for (LayerState s : layers) b += s.bytes();
        return b;
    }

    /** The state of one layer. */
    public sealed interface LayerState permits Recurrent, KeyValue {
        int layer();

        long bytes();
    }

    /**
     * A GSA layer: {@code Hk [Hkv, dk, M]} and {@code Hv [Hkv, M, dv]} of one sequence (batch 1), fp32, and with
     * short convolutions the last {@code K − 1} projections of q, k and v ({@code convRows}, oldest first; empty
     * without them).
     */
    public record Recurrent(int layer, GsaState state, float[] convRows) implements LayerState {
        public Recurrent {
            if (state.batch() != 1) throw new IllegalArgumentException("a decoder state holds one sequence, not " + state.batch());
            if (convRows == null) convRows = new float[0];
        }

        /** A layer without short convolutions. */
        public Recurrent(int layer, GsaState state) {
            this(layer, state, null);
        }

        @Override
        public long bytes() {
            return 4L * (state.hk().length + state.hv().length + convRows.length);
        }
    }

    /**
     * An attention layer: keys (after RoPE) and values of the last {@code rows} positions, oldest first,
     * {@code [rows, rowWidth]} each, fp32; {@code rowWidth = kv_heads · head_dim}. The rows are positions
     * {@code position − rows .. position − 1} of the decoder state that holds this layer state.
     */
    public record KeyValue(int layer, int rowWidth, int rows, float[] keys, float[] values) implements LayerState {
        public KeyValue {
            if (rowWidth < 1 || rows < 0 || keys.length != (long) rows * rowWidth || values.length != keys.length) {
                throw new IllegalArgumentException("KV state of layer " + layer + ": " + keys.length + " and "
                        + values.length + " floats for " + rows + " rows of " + rowWidth);
            }
        }

        @Override
        public long bytes() {
            return 8L * keys.length;
        }
    }
}
