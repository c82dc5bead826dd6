package gsat2r.eval;

import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.llama.LlamaModel;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.UnaryOperator;

/** Models for the eval tests: the in-repo checkpoints, and small stand-ins whose behaviour is known. */
final class TestModels {
    private TestModels() {}

    /** The shipped demo teacher (4.2M parameters, vocab 4096, byte-level BPE tokenizer). */
    static final Path KJV = Path.of("..", "models", "kjv-llama");
    /** transformers' tiny Llama fixture (vocab 256, no tokenizer). */
    static final Path HF_TINY_LLAMA = Path.of("..", "core", "src", "test", "resources", "fixtures", "hf-tiny-llama");

    static LlamaModel kjv() {
        return LlamaModel.load(KJV);
    }

    /** A model whose logits are another's, changed row by row (a stand-in student that is close, not equal). */
    static LanguageModel transformed(LanguageModel base, UnaryOperator<float[]> change) {
        return new LanguageModel() {
            @Override
            public int vocabSize() {
                return base.vocabSize();
            }

            @Override
            public float[][] forward(int[] ids) {
                float[][] rows = base.forward(ids);
                for (int t = 0; t < rows.length; t++) rows[t] = change.apply(rows[t]);
                return rows;
            }

            @Override
            public Decoder newDecoder() {
                Decoder d = base.newDecoder();
                return new Decoder() {
                    @Override
                    public float[] prefill(int[] ids) {
                        return change.apply(d.prefill(ids));
                    }

                    @Override
                    public float[] next(int id) {
                        return change.apply(d.next(id));
                    }

                    @Override
                    public int position() {
                        return d.position();
                    }
                };
            }
        };
    }

    /**
     * An ideal in-context copier ("induction"): at each position it finds the longest suffix (up to 8
     * tokens) of what it has read that occurred before, ending no further back than {@code window}
     * tokens, and predicts the token that followed its latest such occurrence (logit 8; every other
     * token a small logit falling with its id). With no match it predicts token 0. A window of
     * Integer.MAX_VALUE sees everything, like a KV cache; a small window forgets, like a small state.
     */
    static final class Induction implements LanguageModel {
        final int vocab, window;
        int forwards;

        Induction(int vocab, int window) {
            this.vocab = vocab;
            this.window = window;
        }

        @Override
        public int vocabSize() {
            return vocab;
        }

        @Override
        public float[][] forward(int[] ids) {
            forwards++;
            float[][] out = new float[ids.length][];
            for (int t = 0; t < ids.length; t++) out[t] = row(ids, t);
            return out;
        }

        float[] row(int[] ids, int t) {
            int bestLength = 0, next = 0;
            for (int j = t - 1; j >= 0 && t - j <= window; j--) {          // latest first
                int n = 0;
                while (n < 8 && j - n >= 0 && ids[j - n] == ids[t - n]) n++;
                if (n > bestLength) {
                    bestLength = n;
                    next = ids[j + 1];
                }
            }
            float[] r = new float[vocab];
            for (int v = 0; v < vocab; v++) r[v] = -1e-4f * v;
            r[next] = 8;
            return r;
        }

        @Override
        public Decoder newDecoder() {
            return new Decoder() {
                int[] seen = new int[0];

                @Override
                public float[] prefill(int[] ids) {
                    int n = seen.length;
                    seen = Arrays.copyOf(seen, n + ids.length);
                    System.arraycopy(ids, 0, seen, n, ids.length);
                    return row(seen, seen.length - 1);
                }

                @Override
                public float[] next(int id) {
                    return prefill(new int[] {id});
                }

                @Override
                public int position() {
                    return seen.length;
                }

                @Override
                public long stateBytes() {
                    return 4L * seen.length;
                }
            };
        }
    }
}
