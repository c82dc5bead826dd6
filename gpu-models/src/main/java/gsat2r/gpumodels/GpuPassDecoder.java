package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.model.BatchDecoder;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;

import java.util.ArrayList;
import java.util.List;

/**
 * A sequence of a GSA student with short convolutions on the GPU. Every call, one token or a prompt, goes through the
 * model's multi-token pass ({@link GsaModel#decodeRows}) from the state the decoder keeps on the device: per GSA layer
 * its recurrent state and the convolutions' last K − 1 projections, per attention layer its KV ring. The batched
 * decoding step ({@link DecodeRuntime}) has no convolution, so these decoders step one sequence a call; their work a
 * token is constant all the same. The state saves to and restores from the host format the CPU decoders and state
 * files use ({@link DecoderState}).
 */
final class GpuPassDecoder implements LanguageModel.Decoder {
    private final GsaModel model;
    private final DroppedDecoders dropped;
    private final GsaModel.DecodeState state;
    private int position;

    GpuPassDecoder(GsaModel model, DroppedDecoders dropped) {
        this.model = model;
        this.dropped = dropped;
        this.state = model.new DecodeState(256);
        dropped.track(this, state);
    }

    @Override
    public float[] prefill(int[] ids) {
        return run(ids, ids.length - 1)[0];
    }

    @Override
    public float[] next(int id) {
        return prefill(new int[] {id});
    }

    @Override
    public float[][] prefillAll(int[] ids) {
        return run(ids, 0);
    }

    private float[][] run(int[] ids, int first) {
        dropped.release();
        if (ids.length == 0) throw new T2rException("no tokens to run the model on");
        for (int id : ids) {
            T2rException wrong = BatchDecoder.checkId(id, model.vocabSize());
            if (wrong != null) throw wrong;
        }
        float[][] rows = model.decodeRows(ids, position, state, first);
        position += ids.length;
        return rows;
    }

    @Override
    public int position() {
        return position;
    }

    @Override
    public long stateBytes() {
        return state.bytes();
    }

    @Override
    public DecoderState saveState() {
        List<DecoderState.LayerState> layers = new ArrayList<>();
        for (int l = 0; l < state.states.length; l++) {
            if (model.mixer(l) instanceof GsaMixer g) layers.add(g.save(l, state.states[l][0], state.convRows[l]));
            else layers.add(state.caches[l].save(l, position));
        }
        return new DecoderState(position, layers);
    }

    @Override
    public void restoreState(DecoderState saved) {
        if (saved.layers().size() != state.states.length) {
            throw new T2rException("the state has " + saved.layers().size() + " layers, this GPU model " + state.states.length);
        }
        for (DecoderState.LayerState s : saved.layers()) {
            String problem = problem(s, saved.position());
            if (problem != null) throw new T2rException("layer " + s.layer() + ": " + problem);
        }
        for (DecoderState.LayerState s : saved.layers()) {
            switch (s) {
                case DecoderState.Recurrent r -> ((GsaMixer) model.mixer(r.layer())).restore(r, state.states[r.layer()][0], state.convRows[r.layer()]);
                case DecoderState.KeyValue kv -> state.caches[kv.layer()].restore(kv, saved.position());
            }
        }
        position = saved.position();
    }

    private String problem(DecoderState.LayerState s, int position) {
        if (s.layer() < 0 || s.layer() >= state.states.length) return "no such layer in this GPU model";
        return switch (s) {
            case DecoderState.Recurrent r -> model.mixer(r.layer()) instanceof GsaMixer g ? g.problem(r)
                    : "the state holds a GSA state, this layer is softmax attention";
            case DecoderState.KeyValue kv -> model.mixer(kv.layer()) instanceof AttentionMixer
                    ? (state.caches[kv.layer()].fits(kv, position) ? null : kv.rows() + " key/value rows of " + kv.rowWidth()
                            + " floats do not fit this layer's ring after " + position + " tokens")
                    : "the state holds key/value rows, this layer is GSA";
        };
    }
}
