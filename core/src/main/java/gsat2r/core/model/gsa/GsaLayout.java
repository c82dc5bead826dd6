package gsat2r.core.model.gsa;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.gsa.ParameterView.Kind;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Where every parameter of a student lives in its one contiguous fp32 buffer (llm.c style): the
 * tensors in the order of fla's {@code state_dict()}, under fla's checkpoint keys,
 *
 * <pre>
 * model.embeddings.weight                      [V, d]
 * per layer l, prefix model.layers.l.:
 *   attn_norm.weight                           [d]
 *   GSA layer:        attn.q_proj.weight       [H·dk, d]
 *                     attn.k_proj.weight       [Hkv·dk, d]
 *                     attn.v_proj.weight       [Hkv·dv, d]
 *                     attn.f_proj.weight       [Hkv·M, d]
 *                     attn.q_conv1d.weight     [H·dk, 1, K]    (with short convolutions of K taps,
 *                     attn.k_conv1d.weight     [Hkv·dk, 1, K]   fla's use_short_conv and conv_size;
 *                     attn.v_conv1d.weight     [Hkv·dv, 1, K]   no bias, as fla's GSA layer builds them)
 *                     attn.g_norm.weight       [H·dv]
 *                     attn.o_proj.weight       [d, H·dv]
 *   attention layer:  attn.q_proj.weight       [H·dh, d]   (+ attn.q_proj.bias [H·dh] with qkv_bias)
 *                     attn.k_proj.weight       [Hkv·dh, d] (+ bias)
 *                     attn.v_proj.weight       [Hkv·dh, d] (+ bias)
 *                     attn.o_proj.weight       [d, H·dh]
 *   mlp_norm.weight                            [d]
 *   mlp.gate_proj.weight [I, d], mlp.up_proj.weight [I, d], mlp.down_proj.weight [d, I]
 * model.norm.weight                            [d]
 * lm_head.weight                               [V, d]      (absent when tied: the embeddings serve)
 * </pre>
 *
 * The gradient buffer has the same layout. Named groups: {@code gates} (f_proj and g_norm of the GSA
 * layers: what conversion added), {@code attention} (every parameter of the GSA layers' attn module),
 * {@code all}.
 */
public final class GsaLayout {
    /** Names of the predefined groups, for recipes and messages. */
    public static final List<String> GROUPS = List.of("gates", "attention", "all");

    private final GsaConfig config;
    private final List<ParameterView> views;
    private final Map<String, ParameterView> byName = new LinkedHashMap<>();
    private final long size;

    public GsaLayout(GsaConfig c) {
        this.config = c;
        List<ParameterView> list = new ArrayList<>();
        long[] offset = {0};
        int d = c.hiddenSize();
        Adder a = (name, kind, layer, shape) -> {
            ParameterView v = new ParameterView(name, kind, layer, offset[0], shape);
            offset[0] += v.size();
            list.add(v);
        };
        a.add("model.embeddings.weight", Kind.EMBEDDINGS, -1, c.vocabSize(), d);
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            String p = "model.layers." + l + ".";
            a.add(p + "attn_norm.weight", Kind.ATTN_NORM, l, d);
            GsaConfig.AttentionSpec s = c.attentionAt(l);
            if (s == null) {
                a.add(p + "attn.q_proj.weight", Kind.Q_PROJ, l, c.keyDim(), d);
                a.add(p + "attn.k_proj.weight", Kind.K_PROJ, l, c.kvKeyDim(), d);
                a.add(p + "attn.v_proj.weight", Kind.V_PROJ, l, c.kvValueDim(), d);
                a.add(p + "attn.f_proj.weight", Kind.F_PROJ, l, (long) c.numKvHeads() * c.numSlots(), d);
                if (c.shortConv() > 0) {
                    a.add(p + "attn.q_conv1d.weight", Kind.Q_CONV, l, c.keyDim(), 1, c.shortConv());
                    a.add(p + "attn.k_conv1d.weight", Kind.K_CONV, l, c.kvKeyDim(), 1, c.shortConv());
                    a.add(p + "attn.v_conv1d.weight", Kind.V_CONV, l, c.kvValueDim(), 1, c.shortConv());
                }
                a.add(p + "attn.g_norm.weight", Kind.G_NORM, l, c.valueDim());
                a.add(p + "attn.o_proj.weight", Kind.O_PROJ, l, d, c.valueDim());
            } else {
                int dh = s.headDim(d), q = s.numHeads() * dh, kv = s.numKvHeads() * dh;
                a.add(p + "attn.q_proj.weight", Kind.Q_PROJ, l, q, d);
                if (s.qkvBias()) a.add(p + "attn.q_proj.bias", Kind.Q_BIAS, l, q);
                a.add(p + "attn.k_proj.weight", Kind.K_PROJ, l, kv, d);
                if (s.qkvBias()) a.add(p + "attn.k_proj.bias", Kind.K_BIAS, l, kv);
                a.add(p + "attn.v_proj.weight", Kind.V_PROJ, l, kv, d);
                if (s.qkvBias()) a.add(p + "attn.v_proj.bias", Kind.V_BIAS, l, kv);
                a.add(p + "attn.o_proj.weight", Kind.O_PROJ, l, d, q);
            }
            a.add(p + "mlp_norm.weight", Kind.MLP_NORM, l, d);
            a.add(p + "mlp.gate_proj.weight", Kind.GATE_PROJ, l, c.intermediateSize(), d);
            a.add(p + "mlp.up_proj.weight", Kind.UP_PROJ, l, c.intermediateSize(), d);
            a.add(p + "mlp.down_proj.weight", Kind.DOWN_PROJ, l, d, c.intermediateSize());
        }
        a.add("model.norm.weight", Kind.FINAL_NORM, -1, d);
        if (!c.tieWordEmbeddings()) a.add("lm_head.weight", Kind.LM_HEAD, -1, c.vocabSize(), d);
        this.views = Collections.unmodifiableList(list);
        for (ParameterView v : list) byName.put(v.name(), v);
        this.size = offset[0];
    }

    @FunctionalInterface
    private interface Adder {
        void add(String name, Kind kind, int layer, long... shape);
    }

    public GsaConfig config() {
        return config;
    }

    /** Every tensor, in buffer (and fla state_dict) order. */
    public List<ParameterView> views() {
        return views;
    }

    /** Total floats of the buffer (of every tensor, in order; offsets are {@code long}: an 8B student has more than 2^31). */
    public long size() {
        return size;
    }

    /** The most floats the CPU reference holds in one array. */
    public static final long ARRAY_LIMIT = Integer.MAX_VALUE - 8;

    /** Fails, naming the limit and the way out, when this layout does not fit one Java array (the CPU reference's buffer). */
    public void requireArray(String where) {
        if (size > ARRAY_LIMIT) {
            throw new T2rException(where + ": this student has " + String.format(java.util.Locale.ROOT, "%,d", size)
                    + " parameters, more than the CPU reference holds in one buffer (" + String.format(java.util.Locale.ROOT, "%,d", ARRAY_LIMIT)
                    + "); use the cuda device (\"device\": \"cuda\" in a recipe, --device cuda elsewhere)");
        }
    }

    /** The tensor named {@code name}, or null. */
    public ParameterView find(String name) {
        return byName.get(name);
    }

    /** The tensor of {@code kind} in {@code layer} (-1 for model scope); fails if there is none. */
    public ParameterView get(Kind kind, int layer) {
        for (ParameterView v : views) if (v.kind() == kind && v.layer() == layer) return v;
        throw new IllegalArgumentException("no " + kind + " tensor in layer " + layer);
    }

    /** The tensor of {@code kind} in {@code layer}, or null (biases, lm_head when tied). */
    public ParameterView optional(Kind kind, int layer) {
        for (ParameterView v : views) if (v.kind() == kind && v.layer() == layer) return v;
        return null;
    }

    /** The output projection: {@code lm_head.weight}, or the embeddings when tied. */
    public ParameterView outputProjection() {
        ParameterView head = optional(Kind.LM_HEAD, -1);
        return head != null ? head : get(Kind.EMBEDDINGS, -1);
    }

    /** The tensors that {@code keep} accepts, as a group. */
    public ParameterGroup group(String name, Predicate<ParameterView> keep) {
        return new ParameterGroup(name, views.stream().filter(keep).toList());
    }

    /** A predefined group by name: {@code gates}, {@code attention} or {@code all}. */
    public ParameterGroup group(String name) {
        return switch (name) {
            case "gates" -> group(name, v -> v.kind() == Kind.F_PROJ || v.kind() == Kind.G_NORM);
            case "attention" -> group(name, v -> v.layer() >= 0 && config.isGsaLayer(v.layer()) && v.kind().isMixer());
            case "all" -> group(name, v -> true);
            default -> throw new T2rException("unknown parameter group '" + name + "'; known: " + String.join(", ", GROUPS));
        };
    }
}
