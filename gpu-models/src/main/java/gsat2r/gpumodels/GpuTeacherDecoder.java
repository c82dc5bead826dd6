package gsat2r.gpumodels;

import gsat2r.core.model.DecoderState;

import java.util.ArrayList;
import java.util.List;

/** A sequence of a Llama/Mistral teacher on the GPU: one KV ring per layer (the window's rows with a sliding window). */
final class GpuTeacherDecoder extends GpuDecoder {
    private final LlamaModel model;
    private final KvRing[] caches;

    GpuTeacherDecoder(DecodeRuntime runtime, LlamaModel model) {
        super(runtime);
        this.model = model;
        this.caches = model.newCaches(256);
        KvRing[] owned = caches;
        runtime.track(this, () -> {
            for (KvRing r : owned) r.close();
        });
    }

    @Override
    long stateAddress(int layer, int which) {
        return (which == 0 ? caches[layer].keys() : caches[layer].values()).address();
    }

    @Override
    int ringCapacity(int layer) {
        return caches[layer].capacity();
    }

    @Override
    void reserve(int end) {
        for (KvRing r : caches) r.ensure(end);
    }

    @Override
    float[][] runTokens(int[] ids, int first) {
        return model.decodeRows(ids, position(), caches, first);
    }

    @Override
    void freeState() {
        for (KvRing r : caches) r.close();
    }

    @Override
    void zeroRings() {
        for (KvRing r : caches) r.zero();
    }

    @Override
    public long stateBytes() {
        long n = 0;
        for (KvRing c : caches) n += c.bytes();
        return n;
    }

    @Override
    public DecoderState saveState() {
        List<DecoderState.LayerState> layers = new ArrayList<>();
        for (int l = 0; l < caches.length; l++) layers.add(caches[l].save(l, position()));
        return new DecoderState(position(), layers);
    }

    @Override
    public void restoreState(DecoderState saved) {
        checkLayers(saved);
        for (DecoderState.LayerState s : saved.layers()) caches[s.layer()].restore((DecoderState.KeyValue) s, saved.position());
        moveTo(saved.position());
    }

    @Override
    String problem(DecoderState.LayerState s, DecodeModel.Layer layer, int position) {
        if (!(s instanceof DecoderState.KeyValue kv)) return "the state holds a GSA state, this teacher's layers are softmax attention";
        return caches[kv.layer()].fits(kv, position) ? null
                : kv.rows() + " key/value rows of " + kv.rowWidth() + " floats do not fit this layer's ring after " + position + " tokens";
    }
}
