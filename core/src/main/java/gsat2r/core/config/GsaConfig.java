package gsat2r.core.config;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.io.PythonJson;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The {@code config.json} of a GSA student exactly as fla 0.5.2's {@code GSAConfig} reads and writes
 * it ({@code model_type "gsa"}, {@code GSAForCausalLM}), with fla's defaults for absent keys:
 * {@code num_kv_heads} null means {@code num_heads}, {@code num_slots} null means the key head size,
 * {@code intermediate_size} null means {@code 256·ceil(int(hidden·hidden_ratio·2/3)/256)},
 * {@code norm_eps} 1e-6. {@code expand_k} / {@code expand_v} are read under those names (fla's
 * constructor spells its parameter {@code exapnd_k}, but the JSON key ends up as the attribute).
 *
 * <p>What fla 0.5.2 computes, and so what this project computes: {@code norm_eps} is the epsilon of
 * {@code attn_norm}, {@code mlp_norm} and the final {@code norm}; the layer's output norm ({@code g_norm})
 * always runs with epsilon 1e-5, because the layer calls {@code rms_norm_linear} without passing its own
 * {@code eps}; {@code use_norm} is ignored (the norm is always applied); {@code clamp_min},
 * {@code clamp_max} and the {@code fuse_*} flags do not change the math. Settings that would change it
 * and that this project does not implement are refused with one line naming the key:
 * a {@code feature_map} other than swish, {@code use_output_gate: true},
 * a non-null {@code attnres_block_size}, {@code elementwise_affine: false}, a {@code hidden_act} other
 * than swish.
 *
 * <p>Hybrid layers: {@code attn} is null, one spec or a list of specs (see {@link AttentionSpec}).
 *
 * <p>Our extensions, which fla 0.5.2 ignores or cannot run (a student that uses one is exact only in
 * t2r; {@link #flaCompatibility()} says which): a {@code head_dim} or {@code rope_scaling} key in an
 * attention spec (teachers whose head size is not hidden/heads, or with llama3/linear RoPE scaling),
 * and {@code expand_v ≠ 1} (fla sizes {@code g_norm} by hidden_size and would fail on a wider value
 * dim; here {@code g_norm} has the value dim). Provenance from {@code t2r convert} lives under the
 * key {@code "t2r"}, which fla keeps as an unused attribute.
 *
 * @param gateLogitNormalizer τ in {@code g = logsigmoid(f)/τ}
 * @param expandK             key dim = {@code int(hidden_size · expand_k)}, as fla computes it
 * @param expandV             value dim = {@code int(hidden_size · expand_v)}
 * @param hiddenRatio         only used to derive intermediate_size when it is absent; kept to write it back
 * @param attn                hybrid softmax-attention specs (empty: every layer is GSA)
 * @param shortConv           fla's {@code use_short_conv} with its {@code conv_size}: the taps of the causal depthwise
 *                            convolution (with SiLU) on q, k and v of the GSA layers, or 0 for none
 * @param dtype               {@code dtype} (or {@code torch_dtype}): the weights' storage type, or null
 * @param provenance          the {@code "t2r"} object (conversion settings), or null
 */
public record GsaConfig(int hiddenSize, int numHiddenLayers, int numHeads, int numKvHeads, int numSlots,
                        double gateLogitNormalizer, double expandK, double expandV, int intermediateSize,
                        double hiddenRatio, double normEps, int vocabSize, boolean tieWordEmbeddings,
                        List<Integer> bosTokenIds, List<Integer> eosTokenIds, int maxPositionEmbeddings,
                        List<AttentionSpec> attn, int shortConv, String dtype, ObjectNode provenance) {

    public static final String FILE_NAME = "config.json";
    public static final String MODEL_TYPE = "gsa";
    public static final String ARCHITECTURE = "GSAForCausalLM";
    /** The epsilon of the GSA layer's output norm in fla 0.5.2 (see the class comment). */
    public static final float G_NORM_EPS = 1e-5f;
    /** The most taps a short convolution may have here (fla's default is 4; the CUDA kernels launch a block row per tap). */
    public static final int MAX_CONV_SIZE = 1024;

    public GsaConfig {
        positive("hidden_size", hiddenSize);
        positive("num_hidden_layers", numHiddenLayers);
        positive("num_heads", numHeads);
        positive("num_kv_heads", numKvHeads);
        positive("num_slots", numSlots);
        positive("intermediate_size", intermediateSize);
        positive("vocab_size", vocabSize);
        positive("max_position_embeddings", maxPositionEmbeddings);
        positiveNumber("gate_logit_normalizer", gateLogitNormalizer);
        positiveNumber("expand_k", expandK);
        positiveNumber("expand_v", expandV);
        positiveNumber("norm_eps", normEps);
        if (shortConv < 0 || shortConv > MAX_CONV_SIZE) {
            throw new T2rException("\"conv_size\" (" + shortConv + ") must be in [1, " + MAX_CONV_SIZE + "]");
        }
        if (numHeads % numKvHeads != 0) {
            throw new T2rException("\"num_heads\" (" + numHeads + ") is not a multiple of \"num_kv_heads\" ("
                    + numKvHeads + ")");
        }
        int keyDim = dimOf(hiddenSize, expandK), valueDim = dimOf(hiddenSize, expandV);
        if (keyDim < numHeads || keyDim % numHeads != 0) {
            throw new T2rException("\"expand_k\" (" + expandK + ") gives a key dim of " + keyDim
                    + ", not a positive multiple of \"num_heads\" (" + numHeads + ")");
        }
        if (valueDim < numHeads || valueDim % numHeads != 0) {
            throw new T2rException("\"expand_v\" (" + expandV + ") gives a value dim of " + valueDim
                    + ", not a positive multiple of \"num_heads\" (" + numHeads + ")");
        }
        bosTokenIds = List.copyOf(bosTokenIds == null ? List.of() : bosTokenIds);
        eosTokenIds = List.copyOf(eosTokenIds == null ? List.of() : eosTokenIds);
        attn = List.copyOf(attn == null ? List.of() : attn);
        boolean[] assigned = new boolean[numHiddenLayers];
        for (int i = 0; i < attn.size(); i++) {
            AttentionSpec s = attn.get(i);
            String where = "\"attn\" spec " + i;
            for (int l : s.layers()) {
                if (l < 0 || l >= numHiddenLayers) {
                    throw new T2rException(where + ": layer " + l + " is outside [0, " + numHiddenLayers + ")");
                }
                if (assigned[l]) throw new T2rException(where + ": layer " + l + " is assigned twice");
                assigned[l] = true;
            }
            if (s.headDim() == null && hiddenSize % s.numHeads() != 0) {
                throw new T2rException(where + ": hidden_size " + hiddenSize + " is not a multiple of num_heads "
                        + s.numHeads() + " (give \"head_dim\")");
            }
            if (s.headDim(hiddenSize) % 2 != 0) {
                throw new T2rException(where + ": head dim " + s.headDim(hiddenSize) + " must be even for RoPE");
            }
        }
        long[] products = {(long) vocabSize * hiddenSize, (long) intermediateSize * hiddenSize,
                (long) keyDim * hiddenSize, (long) valueDim * hiddenSize, (long) numKvHeads * numSlots * hiddenSize};
        for (long p : products) {
            if (p > Integer.MAX_VALUE - 8) {
                throw new T2rException("a weight matrix of this model has " + p + " elements, more than one Java array holds");
            }
        }
    }

    /** fla's {@code int(hidden_size * expand)}: a double product, truncated. */
    static int dimOf(int hidden, double expand) {
        double d = hidden * expand;
        return d >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) d;
    }

    /**
     * The smallest expand ratio whose fla dim {@code int(hidden·ratio)} is exactly {@code dim}: written
     * into config.json for teachers whose {@code heads·head_dim} is not {@code hidden_size}.
     */
    public static double expandFor(int hidden, int dim) {
        if (dim == hidden) return 1.0;
        double r = (double) dim / hidden;
        while (dimOf(hidden, r) < dim) r = Math.nextUp(r);
        while (dimOf(hidden, Math.nextDown(r)) == dim) r = Math.nextDown(r);
        if (dimOf(hidden, r) != dim) throw new IllegalStateException("no expand ratio gives " + dim + " from " + hidden);
        return r;
    }

    /**
     * One hybrid layer group of fla's {@code attn} config: standard softmax attention (fla's
     * {@code Attention}: q/k/v/o projections, bias on q, k, v when {@code qkv_bias}, non-interleaved RoPE
     * with base {@code rope_theta}, causal, {@code window_size} as flash-attn's window (w−1, 0): query i
     * sees keys j with {@code 0 ≤ i−j < w}; null for full attention) at the listed layers.
     *
     * @param headDim     our extension {@code head_dim}: null means fla's {@code hidden_size / num_heads}
     * @param ropeScaling our extension {@code rope_scaling} (transformers' dict form, llama3 or linear);
     *                    null means plain RoPE, which is all fla computes
     * @param extra       other keys of the spec, kept as they were (fla keeps unknown keys too)
     */
    public record AttentionSpec(List<Integer> layers, int numHeads, int numKvHeads, boolean qkvBias, Integer windowSize,
                                double ropeTheta, Integer headDim, RopeParameters ropeScaling, ObjectNode extra) {

        static final Set<String> KNOWN = Set.of("layers", "num_heads", "num_kv_heads", "qkv_bias", "window_size",
                "rope_theta", "head_dim", "rope_scaling");

        public AttentionSpec {
            layers = List.copyOf(layers);
            if (layers.isEmpty()) throw new T2rException("\"layers\" of an attention spec is empty");
            positive("num_heads", numHeads);
            positive("num_kv_heads", numKvHeads);
            if (numHeads % numKvHeads != 0) {
                throw new T2rException("attention spec: num_heads " + numHeads + " is not a multiple of num_kv_heads "
                        + numKvHeads);
            }
            if (windowSize != null) positive("window_size", windowSize);
            if (headDim != null) positive("head_dim", headDim);
            positiveNumber("rope_theta", ropeTheta);
            if (ropeScaling != null && ropeScaling.theta() != ropeTheta) {
                throw new IllegalArgumentException("rope scaling theta " + ropeScaling.theta() + " != rope_theta " + ropeTheta);
            }
            extra = extra == null ? JsonNodeFactory.instance.objectNode() : extra.deepCopy();
        }

        /** The per-head size: {@code head_dim} if given, else {@code hidden / num_heads} as fla. */
        public int headDim(int hidden) {
            return headDim != null ? headDim : hidden / numHeads;
        }

        /** The RoPE settings of these layers. */
        public RopeParameters rope() {
            return ropeScaling != null ? ropeScaling : RopeParameters.defaults(ropeTheta);
        }

        /** The window in tokens, 0 for full causal attention (as {@code gsat2r.core.cpu.Attention} takes it). */
        public int window() {
            return windowSize == null ? 0 : windowSize;
        }

        /** Whether fla 0.5.2 builds exactly this layer from the spec (no t2r extension in use). */
        public boolean flaExact(int hidden) {
            return ropeScaling == null && (headDim == null || headDim * numHeads == hidden);
        }
    }

    // ------------------------------------------------------------------ derived sizes

    /** fla's {@code key_dim}: query width, {@code num_heads · head_k_dim}. */
    public int keyDim() {
        return dimOf(hiddenSize, expandK);
    }

    /** fla's {@code value_dim}: GSA output width before o_proj, {@code num_heads · head_v_dim}. */
    public int valueDim() {
        return dimOf(hiddenSize, expandV);
    }

    /** dk: size of q and k per head. */
    public int headKDim() {
        return keyDim() / numHeads;
    }

    /** dv: size of v and o per head. */
    public int headVDim() {
        return valueDim() / numHeads;
    }

    /** Query heads per key/value head. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }

    /** Width of k_proj: {@code num_kv_heads · dk}. */
    public int kvKeyDim() {
        return numKvHeads * headKDim();
    }

    /** Width of v_proj: {@code num_kv_heads · dv}. */
    public int kvValueDim() {
        return numKvHeads * headVDim();
    }

    /** The attention spec of layer {@code l}, or null when it is a GSA layer. */
    public AttentionSpec attentionAt(int l) {
        for (AttentionSpec s : attn) if (s.layers().contains(l)) return s;
        return null;
    }

    public boolean isGsaLayer(int l) {
        return attentionAt(l) == null;
    }

    public int gsaLayerCount() {
        int n = 0;
        for (int l = 0; l < numHiddenLayers; l++) if (isGsaLayer(l)) n++;
        return n;
    }

    /**
     * Bytes of recurrent state per sequence, whatever its length: per GSA layer and kv head,
     * {@code Hk [dk, M]} and {@code Hv [M, dv]} in fp32, and with short convolutions the last {@code conv_size − 1}
     * rows of the q, k and v projections (what this project's decoder holds; fla keeps a
     * copy per query head, {@code num_heads / num_kv_heads} times as much).
     */
    public long recurrentStateBytes() {
        long conv = shortConv > 0 ? (long) (shortConv - 1) * (keyDim() + kvKeyDim() + kvValueDim()) : 0;
        return (long) gsaLayerCount() * (numKvHeads * numSlots * ((long) headKDim() + headVDim()) + conv) * 4;
    }

    /** Bytes of KV cache of the hybrid attention layers at {@code tokens} tokens (windows cap it), {@code bytesPerElement} each. */
    public long attentionCacheBytes(long tokens, int bytesPerElement) {
        long total = 0;
        for (AttentionSpec s : attn) {
            long kept = s.windowSize() == null ? tokens : Math.min(tokens, s.windowSize());
            total += (long) s.layers().size() * 2 * kept * s.numKvHeads() * s.headDim(hiddenSize) * bytesPerElement;
        }
        return total;
    }

    /** Null when fla 0.5.2 builds exactly this model from the config; otherwise why not (one line). */
    public String flaCompatibility() {
        List<String> why = new ArrayList<>();
        if (valueDim() != hiddenSize && gsaLayerCount() > 0) {
            why.add("value dim " + valueDim() + " != hidden_size " + hiddenSize + " (fla sizes g_norm by hidden_size)");
        }
        for (AttentionSpec s : attn) {
            if (s.headDim() != null && s.headDim() * s.numHeads() != hiddenSize) {
                why.add("attention layers " + s.layers() + " use head_dim " + s.headDim());
            }
            if (s.ropeScaling() != null) {
                why.add("attention layers " + s.layers() + " use rope_scaling " + s.ropeScaling().type().hfName());
            }
        }
        return why.isEmpty() ? null : String.join("; ", why);
    }

    /** One-line summary of the layer plan, e.g. {@code GSA 0-5, 7; attention 6 (window 4096)}. */
    public String layerPlan() {
        StringBuilder b = new StringBuilder();
        List<Integer> gsa = new ArrayList<>();
        for (int l = 0; l < numHiddenLayers; l++) if (isGsaLayer(l)) gsa.add(l);
        b.append("GSA ").append(gsa.isEmpty() ? "none" : ranges(gsa));
        for (AttentionSpec s : attn) {
            List<Integer> sorted = new ArrayList<>(s.layers());
            Collections.sort(sorted);
            b.append("; attention ").append(ranges(sorted)).append(" (").append(s.numHeads()).append(" heads, ")
                    .append(s.numKvHeads()).append(" kv, head_dim ").append(s.headDim(hiddenSize)).append(", ")
                    .append(s.windowSize() == null ? "full" : "window " + s.windowSize()).append(", rope ")
                    .append(s.rope().describe()).append(')');
        }
        return b.toString();
    }

    private static String ranges(List<Integer> sorted) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < sorted.size(); ) {
            int j = i;
            while (j + 1 < sorted.size() && sorted.get(j + 1) == sorted.get(j) + 1) j++;
            if (!b.isEmpty()) b.append(", ");
            b.append(sorted.get(i));
            if (j > i) b.append('-').append(sorted.get(j));
            i = j + 1;
        }
        return b.toString();
    }

    /** A copy with another {@code dtype} (the storage type written into config.json). */
    public GsaConfig withDtype(String newDtype) {
        return new GsaConfig(hiddenSize, numHiddenLayers, numHeads, numKvHeads, numSlots, gateLogitNormalizer, expandK,
                expandV, intermediateSize, hiddenRatio, normEps, vocabSize, tieWordEmbeddings, bosTokenIds, eosTokenIds,
                maxPositionEmbeddings, attn, shortConv, newDtype, provenance);
    }

    /** A copy with other attention specs (the layers they name keep softmax attention, the others are GSA). */
    public GsaConfig withAttention(List<AttentionSpec> specs) {
        return new GsaConfig(hiddenSize, numHiddenLayers, numHeads, numKvHeads, numSlots, gateLogitNormalizer, expandK,
                expandV, intermediateSize, hiddenRatio, normEps, vocabSize, tieWordEmbeddings, bosTokenIds, eosTokenIds,
                maxPositionEmbeddings, specs, shortConv, dtype, provenance);
    }

    /** A copy with short convolutions of {@code taps} taps (0: none) on the GSA layers' q, k and v. */
    public GsaConfig withShortConv(int taps) {
        return new GsaConfig(hiddenSize, numHiddenLayers, numHeads, numKvHeads, numSlots, gateLogitNormalizer, expandK,
                expandV, intermediateSize, hiddenRatio, normEps, vocabSize, tieWordEmbeddings, bosTokenIds, eosTokenIds,
                maxPositionEmbeddings, attn, taps, dtype, provenance);
    }

    static void positive(String key, int v) {
        if (v <= 0) throw new T2rException("\"" + key + "\" (" + v + ") must be positive");
    }

    static void positiveNumber(String key, double v) {
        if (!(v > 0) || !Double.isFinite(v)) throw new T2rException("\"" + key + "\" (" + v + ") must be a positive number");
    }

    /** fla's default intermediate size: {@code 256·ceil(int(hidden·ratio·2/3)/256)}. */
    public static int defaultIntermediateSize(int hidden, double hiddenRatio) {
        int i = (int) (hidden * hiddenRatio * 2 / 3);
        return 256 * ((i + 255) / 256);
    }

    // ------------------------------------------------------------------ reading

    /** Reads {@code dir/config.json} (or {@code dir} itself when it is a file). */
    public static GsaConfig load(Path dir) {
        Path file = Files.isDirectory(dir) ? dir.resolve(FILE_NAME) : dir;
        return of(Json.readObject(file, "a model directory has a config.json"), file.toString());
    }

    /** Parses config.json text; {@code where} (the file name) starts every error message. */
    public static GsaConfig parse(String json, String where) {
        return of(Json.parseObject(json, where), where);
    }

    /** The config of a parsed config.json object; {@code where} (the file name) starts every error message. */
    public static GsaConfig of(JsonNode root, String where) {
        try {
            return GsaConfigJson.read(root);
        } catch (T2rException e) {
            throw new T2rException(where + ": " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------ writing

    /**
     * The config.json tree fla writes for this config: every key of fla 0.5.2's {@code GSAConfig}
     * ({@code fuse_*} false: this checkpoint was not made by fused kernels, and unfused is the exact
     * reference), our {@code "t2r"} provenance when present.
     */
    public ObjectNode toJson() {
        return GsaConfigJson.write(this);
    }

    /** The config.json text, as transformers writes it ({@code json.dumps(indent=2, sort_keys=True)} and a newline). */
    public String toJsonText() {
        return PythonJson.dumps(toJson()) + "\n";
    }

    /** Writes {@code dir/config.json} atomically. */
    public void write(Path dir) {
        AtomicFiles.writeString(dir.resolve(FILE_NAME), toJsonText());
    }

    /** One-line summary for {@code t2r inspect} and the converter. */
    public String describe() {
        return String.format(Locale.ROOT,
                "GSAForCausalLM: %d layers (%s), hidden %d, %d heads (%d kv, dk %d, dv %d), %d slots, gate normalizer %s, mlp %d, vocab %d",
                numHiddenLayers, layerPlan(), hiddenSize, numHeads, numKvHeads, headKDim(), headVDim(), numSlots,
                PythonJson.floatRepr(gateLogitNormalizer).replaceAll("\\.0$", ""), intermediateSize, vocabSize);
    }
}
