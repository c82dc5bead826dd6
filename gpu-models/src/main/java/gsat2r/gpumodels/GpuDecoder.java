package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;

import java.util.List;

/**
 * The decoding state of one sequence of a GPU model, kept on the device where it stays between steps: a token at a
 * time it goes through the model's batched step ({@link DecodeRuntime}, alone or with other decoders); several tokens
 * at once (a prompt) through the model's multi-token pass (the chunked GSA form, flash attention). Its state can be
 * saved to the host format the CPU decoders and state files use ({@link DecoderState}) and restored, so that a
 * server's prefix cache and {@code n > 1} work on the GPU.
 */
abstract sealed class GpuDecoder implements LanguageModel.Decoder permits GpuStudentDecoder, GpuTeacherDecoder {
    final DecodeRuntime runtime;
    private int position;

    GpuDecoder(DecodeRuntime runtime) {
        this.runtime = runtime;
    }

    /** Device address {@code which} (0 or 1: Hk and Hv, or the K and V rings) of this sequence's state of {@code layer}. */
    abstract long stateAddress(int layer, int which);

    /** The KV ring capacity of {@code layer} (0 for a GSA layer). */
    abstract int ringCapacity(int layer);

    /** Device address of this sequence's short-convolution history in {@code layer} (0 for a layer without). */
    long convAddress(int layer) {
        return 0;
    }

    /** Makes room for positions below {@code end} (the KV rings grow). */
    abstract void reserve(int end);

    /**
     * Gives the decoder's device memory back now (the decoder must not be used again; a second call does nothing).
     * Once the model is closed, which gave back every decoder's memory with its GPU, it does nothing.
     */
    @Override
    public final void release() {
        if (!runtime.isClosed()) freeState();
    }

    /** Closes the buffers of this decoder's state. */
    abstract void freeState();

    /**
     * Puts the decoder at {@code position} with zeros for every earlier key and value (GSA states as they are):
     * what a benchmark of long contexts needs without prefilling them.
     */
    void placeAt(int position, int room) {
        reserve(position + room);
        zeroRings();
        moveTo(position);
    }

    abstract void zeroRings();

    /** Runs {@code ids} from this decoder's position through the multi-token pass; the logits after each token from {@code first} on. */
    abstract float[][] runTokens(int[] ids, int first);

    @Override
    public final float[] prefill(int[] ids) {
        checkIds(ids);
        if (ids.length == 1) return step(ids[0]);
        float[][] rows = runTokens(ids, ids.length - 1);
        advance(ids.length);
        return rows[0];
    }

    @Override
    public final float[] next(int id) {
        return prefill(new int[] {id});
    }

    @Override
    public final float[][] prefillAll(int[] ids) {
        checkIds(ids);
        if (ids.length == 1) return new float[][] {step(ids[0])};
        float[][] rows = runTokens(ids, 0);
        advance(ids.length);
        return rows;
    }

    private float[] step(int id) {
        return runtime.step(List.of(this), new int[] {id})[0];
    }

    @Override
    public final int position() {
        return position;
    }

    void advance(int tokens) {
        position += tokens;
    }

    /** Sets the position after a restore. */
    void moveTo(int position) {
        this.position = position;
    }

    private void checkIds(int[] ids) {
        runtime.releaseAbandoned();
        if (ids.length == 0) throw new T2rException("no tokens to run the model on");
        for (int id : ids) {
            T2rException wrong = gsat2r.core.model.BatchDecoder.checkId(id, runtime.model.vocab);
            if (wrong != null) throw wrong;
        }
    }

    /** Checks every layer of {@code state} against this decoder before anything is changed; one line naming what differs. */
    void checkLayers(DecoderState state) {
        List<DecodeModel.Layer> layers = runtime.model.layers;
        if (state.layers().size() != layers.size()) {
            throw new T2rException("the state has " + state.layers().size() + " layers, this GPU model " + layers.size());
        }
        for (DecoderState.LayerState s : state.layers()) {
            if (s.layer() < 0 || s.layer() >= layers.size()) throw new T2rException("layer " + s.layer() + ": no such layer in this GPU model");
            String problem = problem(s, layers.get(s.layer()), state.position());
            if (problem != null) throw new T2rException("layer " + s.layer() + ": " + problem);
        }
    }

    /** What keeps {@code s} from fitting {@code layer} after {@code position} tokens, or null. */
    abstract String problem(DecoderState.LayerState s, DecodeModel.Layer layer, int position);
}
