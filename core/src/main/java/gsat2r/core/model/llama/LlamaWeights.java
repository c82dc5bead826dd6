package gsat2r.core.model.llama;

import gsat2r.core.T2rException;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.safetensors.SafeTensors;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The weights of a Llama/Mistral model in fp32, one array per checkpoint tensor, in the checkpoint's
 * layout ({@code [out, in]} projections). Biases are null when the config has none; {@code lmHead} is the
 * embedding array itself when the embeddings are tied.
 */
public record LlamaWeights(float[] embedding, List<Layer> layers, float[] finalNorm, float[] lmHead) {

    public LlamaWeights {
        layers = List.copyOf(layers);
    }

    /** One decoder block. */
    public record Layer(float[] inputNorm, float[] wq, float[] bq, float[] wk, float[] bk, float[] wv, float[] bv,
                        float[] wo, float[] bo, float[] postAttentionNorm, float[] wGate, float[] bGate,
                        float[] wUp, float[] bUp, float[] wDown, float[] bDown) {

        static Layer of(Map<LlamaTensor, float[]> t) {
            return new Layer(t.get(LlamaTensor.INPUT_NORM), t.get(LlamaTensor.Q_PROJ), t.get(LlamaTensor.Q_BIAS),
                    t.get(LlamaTensor.K_PROJ), t.get(LlamaTensor.K_BIAS), t.get(LlamaTensor.V_PROJ),
                    t.get(LlamaTensor.V_BIAS), t.get(LlamaTensor.O_PROJ), t.get(LlamaTensor.O_BIAS),
                    t.get(LlamaTensor.POST_ATTENTION_NORM), t.get(LlamaTensor.GATE_PROJ), t.get(LlamaTensor.GATE_BIAS),
                    t.get(LlamaTensor.UP_PROJ), t.get(LlamaTensor.UP_BIAS), t.get(LlamaTensor.DOWN_PROJ),
                    t.get(LlamaTensor.DOWN_BIAS));
        }

        /** The array of a layer-scope tensor (null for an absent bias). */
        public float[] get(LlamaTensor t) {
            return switch (t) {
                case INPUT_NORM -> inputNorm;
                case Q_PROJ -> wq;
                case Q_BIAS -> bq;
                case K_PROJ -> wk;
                case K_BIAS -> bk;
                case V_PROJ -> wv;
                case V_BIAS -> bv;
                case O_PROJ -> wo;
                case O_BIAS -> bo;
                case POST_ATTENTION_NORM -> postAttentionNorm;
                case GATE_PROJ -> wGate;
                case GATE_BIAS -> bGate;
                case UP_PROJ -> wUp;
                case UP_BIAS -> bUp;
                case DOWN_PROJ -> wDown;
                case DOWN_BIAS -> bDown;
                default -> throw new IllegalArgumentException(t + " is not a layer tensor");
            };
        }
    }

    /** The array of any tensor; {@code layer} is ignored for model-scope ones. */
    public float[] get(LlamaTensor t, int layer) {
        return switch (t) {
            case EMBED_TOKENS -> embedding;
            case FINAL_NORM -> finalNorm;
            case LM_HEAD -> lmHead;
            default -> layers.get(layer).get(t);
        };
    }

    /**
     * Reads every tensor the config implies, checking each shape ({@link SafeTensors#expect}: a missing or
     * misshapen tensor fails with one line naming the file and the tensor) and converting to fp32 one
     * tensor at a time. A tensor the config does not account for is refused too (it usually means the
     * config and the weights disagree, e.g. biases while {@code attention_bias} is false), except the
     * rotary {@code inv_freq} buffers older checkpoints carry and an {@code lm_head.weight} saved beside
     * tied embeddings, which transformers ignores as well.
     */
    public static LlamaWeights load(SafeTensors st, LlamaConfig c) {
        Set<String> used = new HashSet<>();
        float[] embedding = read(st, c, LlamaTensor.EMBED_TOKENS, 0, used);
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            Map<LlamaTensor, float[]> m = new EnumMap<>(LlamaTensor.class);
            for (LlamaTensor t : LlamaTensor.values()) {
                if (t.scope() == LlamaTensor.Scope.LAYER && t.presentIn(c)) m.put(t, read(st, c, t, l, used));
            }
            layers.add(Layer.of(m));
        }
        float[] finalNorm = read(st, c, LlamaTensor.FINAL_NORM, 0, used);
        float[] lmHead = c.tieWordEmbeddings() ? embedding : read(st, c, LlamaTensor.LM_HEAD, 0, used);
        for (String name : st.tensors().keySet()) {
            boolean ignorable = name.endsWith(".rotary_emb.inv_freq")
                    || (c.tieWordEmbeddings() && name.equals(LlamaTensor.LM_HEAD.hfName(0)));
            if (!used.contains(name) && !ignorable) {
                throw new T2rException(st.info(name).file() + ": unexpected tensor '" + name + "' for a "
                        + c.architecture() + " with this config.json (attention_bias=" + c.attentionBias()
                        + ", mlp_bias=" + c.mlpBias() + ", num_hidden_layers=" + c.numHiddenLayers() + ")");
            }
        }
        return new LlamaWeights(embedding, layers, finalNorm, lmHead);
    }

    private static float[] read(SafeTensors st, LlamaConfig c, LlamaTensor t, int layer, Set<String> used) {
        used.add(t.hfName(layer));
        return read(st, c, t, layer);
    }

    /** Tensor {@code t} of {@code layer} as fp32, checked against the shape the config implies. */
    static float[] read(SafeTensors st, LlamaConfig c, LlamaTensor t, int layer) {
        String name = t.hfName(layer);
        st.expect(name, t.shape(c));
        return st.floats(name);
    }

    /** Checks that every array has the length the config implies (for weights built in memory). */
    public void checkAgainst(LlamaConfig c) {
        if (layers.size() != c.numHiddenLayers()) {
            throw new IllegalArgumentException(layers.size() + " layers, config says " + c.numHiddenLayers());
        }
        for (LlamaTensor t : LlamaTensor.values()) {
            int count = t.scope() == LlamaTensor.Scope.LAYER ? c.numHiddenLayers() : 1;
            for (int l = 0; l < count; l++) {
                float[] a = get(t, l);
                boolean expected = t.presentIn(c) || t == LlamaTensor.LM_HEAD;
                if (!expected) {
                    if (a != null) throw new IllegalArgumentException(t.hfName(l) + " given but the config has none");
                    continue;
                }
                long n = 1;
                for (long d : t.shape(c)) n *= d;
                if (a == null || a.length != n) {
                    throw new IllegalArgumentException(t.hfName(l) + " has " + (a == null ? "no array" : a.length
                            + " values") + ", expected " + n);
                }
            }
        }
    }
}
