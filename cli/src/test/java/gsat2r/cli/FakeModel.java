package gsat2r.cli;

import gsat2r.core.model.LanguageModel;

import java.util.Arrays;

/**
 * A deterministic stand-in for a real model: the logits at position t are a fixed function of the
 * ids up to t (so forward and the decoder agree), uneven enough that greedy decoding has no ties.
 */
class FakeModel implements LanguageModel {

    final int vocab;
    boolean closed;

    FakeModel(int vocab) {
        this.vocab = vocab;
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    /** The logits after a prefix whose rolling hash is {@code h}. */
    float[] row(long h) {
        float[] r = new float[vocab];
        for (int v = 0; v < vocab; v++) r[v] = (float) (4 * Math.sin(h * 1e-3 + v * 0.7311) + Math.cos(v * 1.37 + h));
        return r;
    }

    static long step(long h, int id) {
        return h * 1_000_003L + id + 1;
    }

    @Override
    public float[][] forward(int[] ids) {
        float[][] out = new float[ids.length][];
        long h = 0;
        for (int t = 0; t < ids.length; t++) {
            h = step(h, ids[t]);
            out[t] = row(h);
        }
        return out;
    }

    @Override
    public Decoder newDecoder() {
        return new Decoder() {
            long h;
            int position;

            @Override
            public float[] prefill(int[] ids) {
                for (int id : ids) h = step(h, id);
                position += ids.length;
                return row(h);
            }

            @Override
            public float[] next(int id) {
                h = step(h, id);
                position++;
                return row(h);
            }

            @Override
            public int position() {
                return position;
            }
        };
    }

    /** Greedy continuation computed from forward() alone: the reference for generate --greedy. */
    int[] greedy(int[] prompt, int n) {
        int[] ids = Arrays.copyOf(prompt, prompt.length + n);
        for (int k = 0; k < n; k++) {
            float[][] logits = forward(Arrays.copyOf(ids, prompt.length + k));
            float[] last = logits[logits.length - 1];
            int best = 0;
            for (int v = 1; v < last.length; v++) if (last[v] > last[best]) best = v;
            ids[prompt.length + k] = best;
        }
        return ids;
    }

    @Override
    public void close() {
        closed = true;
    }
}
