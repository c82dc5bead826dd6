package gsat2r.gpumodels;

import gsat2r.core.model.DecoderState;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ops.Gsa;

import java.util.ArrayList;
import java.util.List;

/**
 * A sequence of a GSA student on the GPU: per GSA layer its fp32 recurrent state (and with short convolutions their
 * last K − 1 inputs), per attention layer of a hybrid its KV ring. Its state saves to and restores from the host
 * format the CPU decoders and state files use ({@link DecoderState}).
 */
final class GpuStudentDecoder extends GpuDecoder {
    private final GsaModel model;
    private final GsaModel.DecodeState state;

    GpuStudentDecoder(DecodeRuntime runtime, GsaModel model) {
        super(runtime);
        this.model = model;
        this.state = model.new DecodeState(256);
        runtime.track(this, state);
    }

    @Override
    long stateAddress(int layer, int which) {
        Gsa.State[] s = state.states[layer];
        if (s != null) return (which == 0 ? s[0].hk() : s[0].hv()).address();
        KvRing ring = state.caches[layer];
        return (which == 0 ? ring.keys() : ring.values()).address();
    }

    @Override
    long convAddress(int layer) {
        DeviceBuffer rows = state.convBuffers[layer];
        return rows == null ? 0 : rows.address();
    }

    @Override
    int ringCapacity(int layer) {
        return state.caches[layer] == null ? 0 : state.caches[layer].capacity();
    }

    @Override
    void reserve(int end) {
        for (KvRing r : state.caches) if (r != null) r.ensure(end);
    }

    @Override
    float[][] runTokens(int[] ids, int first) {
        return model.decodeRows(ids, position(), state, first);
    }

    @Override
    void freeState() {
        state.close();
    }

    @Override
    void zeroRings() {
        for (KvRing r : state.caches) if (r != null) r.zero();
    }

    @Override
    public long stateBytes() {
        return state.bytes();
    }

    @Override
    public DecoderState saveState() {
        List<DecoderState.LayerState> layers = new ArrayList<>();
        for (int l = 0; l < runtime.model.layers.size(); l++) {
            if (model.mixer(l) instanceof GsaMixer g) layers.add(g.save(l, state.states[l][0], state.convRows[l]));
            else layers.add(state.caches[l].save(l, position()));
        }
        return new DecoderState(position(), layers);
    }

    @Override
    public void restoreState(DecoderState saved) {
        checkLayers(saved);
        for (DecoderState.LayerState s : saved.layers()) {
            switch (s) {
                case DecoderState.Recurrent r -> ((GsaMixer) model.mixer(r.layer())).restore(r, state.states[r.layer()][0], state.convRows[r.layer()]);
                case DecoderState.KeyValue kv -> state.caches[kv.layer()].restore(kv, saved.position());
            }
        }
        moveTo(saved.position());
    }

    @Override
    String problem(DecoderState.LayerState s, DecodeModel.Layer layer, int position) {
        return switch (s) {
            case DecoderState.Recurrent r -> model.mixer(r.layer()) instanceof GsaMixer g ? g.problem(r)
                    : "the state holds a GSA state, this layer is softmax attention";
            case DecoderState.KeyValue kv -> layer instanceof DecodeModel.AttentionLayer
                    ? (state.caches[kv.layer()].fits(kv, position) ? null : kv.rows() + " key/value rows of " + kv.rowWidth()
                            + " floats do not fit this layer's ring after " + position + " tokens")
                    : "the state holds key/value rows, this layer is GSA";
        };
    }
}
