package gsat2r.core.model.llama;

import gsat2r.core.config.LlamaConfig;

import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The tensors of a Hugging Face Llama/Mistral checkpoint, declaratively: the name each has in the
 * safetensors files, its shape as a function of the config, and whether the config says it exists.
 * Loading, validation and (later) export and conversion all walk this one table.
 */
public enum LlamaTensor {
    EMBED_TOKENS(Scope.MODEL, "model.embed_tokens.weight", c -> dims(c.vocabSize(), c.hiddenSize()), c -> true),

    INPUT_NORM(Scope.LAYER, "input_layernorm.weight", c -> dims(c.hiddenSize()), c -> true),
    Q_PROJ(Scope.LAYER, "self_attn.q_proj.weight", c -> dims(c.queryDim(), c.hiddenSize()), c -> true),
    Q_BIAS(Scope.LAYER, "self_attn.q_proj.bias", c -> dims(c.queryDim()), LlamaConfig::attentionBias),
    K_PROJ(Scope.LAYER, "self_attn.k_proj.weight", c -> dims(c.keyValueDim(), c.hiddenSize()), c -> true),
    K_BIAS(Scope.LAYER, "self_attn.k_proj.bias", c -> dims(c.keyValueDim()), LlamaConfig::attentionBias),
    V_PROJ(Scope.LAYER, "self_attn.v_proj.weight", c -> dims(c.keyValueDim(), c.hiddenSize()), c -> true),
    V_BIAS(Scope.LAYER, "self_attn.v_proj.bias", c -> dims(c.keyValueDim()), LlamaConfig::attentionBias),
    O_PROJ(Scope.LAYER, "self_attn.o_proj.weight", c -> dims(c.hiddenSize(), c.queryDim()), c -> true),
    O_BIAS(Scope.LAYER, "self_attn.o_proj.bias", c -> dims(c.hiddenSize()), LlamaConfig::attentionBias),
    POST_ATTENTION_NORM(Scope.LAYER, "post_attention_layernorm.weight", c -> dims(c.hiddenSize()), c -> true),
    GATE_PROJ(Scope.LAYER, "mlp.gate_proj.weight", c -> dims(c.intermediateSize(), c.hiddenSize()), c -> true),
    GATE_BIAS(Scope.LAYER, "mlp.gate_proj.bias", c -> dims(c.intermediateSize()), LlamaConfig::mlpBias),
    UP_PROJ(Scope.LAYER, "mlp.up_proj.weight", c -> dims(c.intermediateSize(), c.hiddenSize()), c -> true),
    UP_BIAS(Scope.LAYER, "mlp.up_proj.bias", c -> dims(c.intermediateSize()), LlamaConfig::mlpBias),
    DOWN_PROJ(Scope.LAYER, "mlp.down_proj.weight", c -> dims(c.hiddenSize(), c.intermediateSize()), c -> true),
    DOWN_BIAS(Scope.LAYER, "mlp.down_proj.bias", c -> dims(c.hiddenSize()), LlamaConfig::mlpBias),

    FINAL_NORM(Scope.MODEL, "model.norm.weight", c -> dims(c.hiddenSize()), c -> true),
    /** Absent when the embeddings are tied: the output projection is then {@link #EMBED_TOKENS}. */
    LM_HEAD(Scope.MODEL, "lm_head.weight", c -> dims(c.vocabSize(), c.hiddenSize()), c -> !c.tieWordEmbeddings());

    /** Whether a tensor exists once per model or once per layer. */
    public enum Scope { MODEL, LAYER }

    private final Scope scope;
    private final String name;
    private final Function<LlamaConfig, long[]> shape;
    private final Predicate<LlamaConfig> present;

    LlamaTensor(Scope scope, String name, Function<LlamaConfig, long[]> shape, Predicate<LlamaConfig> present) {
        this.scope = scope;
        this.name = name;
        this.shape = shape;
        this.present = present;
    }

    public Scope scope() {
        return scope;
    }

    /** The checkpoint name; {@code layer} is ignored for model-scope tensors. */
    public String hfName(int layer) {
        return scope == Scope.LAYER ? "model.layers." + layer + "." + name : name;
    }

    /** The shape the config implies (as in the checkpoint: {@code [out, in]} for projections). */
    public long[] shape(LlamaConfig c) {
        return shape.apply(c);
    }

    /** Whether a checkpoint with this config holds the tensor (biases, an untied lm_head). */
    public boolean presentIn(LlamaConfig c) {
        return present.test(c);
    }

    /**
     * The teacher tensor a converted student's tensor of {@code kind} is copied from, or null for the
     * tensors conversion makes ({@code f_proj}, {@code g_norm}, the short convolutions) and for biases (a converted student has none).
     */
    public static LlamaTensor sourceOf(gsat2r.core.model.gsa.ParameterView.Kind kind) {
        return switch (kind) {
            case EMBEDDINGS -> EMBED_TOKENS;
            case ATTN_NORM -> INPUT_NORM;
            case Q_PROJ -> Q_PROJ;
            case K_PROJ -> K_PROJ;
            case V_PROJ -> V_PROJ;
            case O_PROJ -> O_PROJ;
            case MLP_NORM -> POST_ATTENTION_NORM;
            case GATE_PROJ -> GATE_PROJ;
            case UP_PROJ -> UP_PROJ;
            case DOWN_PROJ -> DOWN_PROJ;
            case FINAL_NORM -> FINAL_NORM;
            case LM_HEAD -> LM_HEAD;
            case F_PROJ, G_NORM, Q_CONV, K_CONV, V_CONV, Q_BIAS, K_BIAS, V_BIAS -> null;
        };
    }

    private static long[] dims(long... d) {
        return d;
    }
}
