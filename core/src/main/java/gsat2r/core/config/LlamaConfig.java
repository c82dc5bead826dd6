package gsat2r.core.config;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;
import gsat2r.core.safetensors.DType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The {@code config.json} of a Hugging Face Llama or Mistral causal language model, with the defaults
 * transformers applies filled in and the RoPE settings normalized. Field names follow config.json.
 * Every instance is valid: the constructor checks the values (positive sizes, heads a multiple of
 * key/value heads, an even head dimension, ...) and fails with a one-line {@link T2rException}.
 *
 * @param family                the architecture ({@code LlamaForCausalLM} or {@code MistralForCausalLM})
 * @param headDim               per-head dimension: explicit {@code head_dim}, else hidden_size / num_attention_heads
 * @param numKeyValueHeads      key/value heads (GQA); num_attention_heads when absent
 * @param slidingWindow         Mistral's attention window (query i sees keys j with 0 ≤ i−j < window), null for full
 *                              attention; always null for Llama (its config has no such setting)
 * @param bosTokenIds           {@code bos_token_id} as a list (config.json may hold an int, a list or null)
 * @param eosTokenIds           {@code eos_token_id} as a list
 * @param dtype                 {@code dtype} (transformers 5) or {@code torch_dtype}: the checkpoint's storage type, or null
 */
public record LlamaConfig(Family family, int hiddenSize, int intermediateSize, int numHiddenLayers,
                          int numAttentionHeads, int numKeyValueHeads, int headDim, int vocabSize,
                          double rmsNormEps, int maxPositionEmbeddings, boolean tieWordEmbeddings,
                          boolean attentionBias, boolean mlpBias, String hiddenAct, Integer slidingWindow,
                          List<Integer> bosTokenIds, List<Integer> eosTokenIds, String dtype,
                          RopeParameters rope) {

    public static final String FILE_NAME = "config.json";

    /** The supported architectures, with their transformers class and model_type names. */
    public enum Family {
        LLAMA("LlamaForCausalLM", "llama", 2048, 2048),
        MISTRAL("MistralForCausalLM", "mistral", 4096 * 32, 4096);

        private final String architecture;
        private final String modelType;
        private final int defaultMaxPositions;
        private final int defaultSlidingWindow;

        Family(String architecture, String modelType, int defaultMaxPositions, int defaultSlidingWindow) {
            this.architecture = architecture;
            this.modelType = modelType;
            this.defaultMaxPositions = defaultMaxPositions;
            this.defaultSlidingWindow = defaultSlidingWindow;
        }

        public String architecture() {
            return architecture;
        }

        public String modelType() {
            return modelType;
        }

        static Family ofArchitecture(String a) {
            for (Family f : values()) if (f.architecture.equals(a)) return f;
            return null;
        }

        static Family ofModelType(String t) {
            for (Family f : values()) if (f.modelType.equals(t)) return f;
            return null;
        }
    }

    public LlamaConfig {
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", numHiddenLayers);
        positive("num_attention_heads", numAttentionHeads);
        positive("num_key_value_heads", numKeyValueHeads);
        positive("head_dim", headDim);
        positive("vocab_size", vocabSize);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (family == null) throw new T2rException("no architecture given");
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new T2rException("num_attention_heads (" + numAttentionHeads
                    + ") is not a multiple of num_key_value_heads (" + numKeyValueHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new T2rException("head_dim (" + headDim + ") must be even: rotary embeddings rotate pairs");
        }
        if (!(rmsNormEps > 0) || !Double.isFinite(rmsNormEps)) {
            throw new T2rException("rms_norm_eps (" + rmsNormEps + ") must be a positive number");
        }
        if (hiddenAct == null || !(hiddenAct.equals("silu") || hiddenAct.equals("swish"))) {
            throw new T2rException("hidden_act '" + hiddenAct + "' is not supported; Llama/Mistral MLPs use silu");
        }
        if (slidingWindow != null && slidingWindow <= 0) {
            throw new T2rException("sliding_window (" + slidingWindow + ") must be positive or null");
        }
        if (slidingWindow != null && family == Family.LLAMA) {
            throw new T2rException("sliding_window is a Mistral setting; LlamaForCausalLM always attends to all positions");
        }
        if (rope == null) throw new T2rException("no rotary embedding settings");
        validateRope(rope);
        bosTokenIds = List.copyOf(bosTokenIds == null ? List.of() : bosTokenIds);
        eosTokenIds = List.copyOf(eosTokenIds == null ? List.of() : eosTokenIds);
        // Arrays of the CPU backend are indexed by int: refuse sizes whose products overflow.
        long[] products = {(long) vocabSize * hiddenSize, (long) intermediateSize * hiddenSize,
                (long) numAttentionHeads * headDim * hiddenSize};
        for (long p : products) {
            if (p > Integer.MAX_VALUE - 8) {
                throw new T2rException("a weight matrix of this model has " + p + " elements, more than one Java array holds");
            }
        }
    }

    private static void positive(String name, int v) {
        if (v <= 0) throw new T2rException(name + " (" + v + ") must be positive");
    }

    private static void validateRope(RopeParameters r) {
        if (!(r.theta() > 0) || !Double.isFinite(r.theta())) {
            throw new T2rException("rope_theta (" + r.theta() + ") must be a positive number");
        }
        if (r.type() != RopeParameters.Type.DEFAULT && (!(r.factor() > 0) || !Double.isFinite(r.factor()))) {
            throw new T2rException("rope factor (" + r.factor() + ") must be a positive number");
        }
        if (r.type() == RopeParameters.Type.LLAMA3) {
            if (!(r.lowFreqFactor() > 0) || !(r.highFreqFactor() > r.lowFreqFactor())) {
                throw new T2rException("llama3 rope needs 0 < low_freq_factor < high_freq_factor, got "
                        + r.lowFreqFactor() + " and " + r.highFreqFactor());
            }
            if (r.originalMaxPositionEmbeddings() <= 0) {
                throw new T2rException("llama3 rope needs a positive original_max_position_embeddings, got "
                        + r.originalMaxPositionEmbeddings());
            }
        }
    }

    // ------------------------------------------------------------------ derived sizes

    /** {@code LlamaForCausalLM} or {@code MistralForCausalLM}. */
    public String architecture() {
        return family.architecture();
    }

    public String modelType() {
        return family.modelType();
    }

    /** Query heads per key/value head. */
    public int groupSize() {
        return numAttentionHeads / numKeyValueHeads;
    }

    /** Width of the concatenated query heads: {@code num_attention_heads · head_dim}. */
    public int queryDim() {
        return numAttentionHeads * headDim;
    }

    /** Width of the concatenated key (or value) heads: {@code num_key_value_heads · head_dim}. */
    public int keyValueDim() {
        return numKeyValueHeads * headDim;
    }

    /** The storage type named by config.json, or null when it names none (or one this project does not know). */
    public DType storageType() {
        return dtype == null ? null : DType.fromUser(dtype);
    }

    /** Bytes of KV cache one token adds, over all layers: keys and values, {@code bytesPerElement} each. */
    public long kvCacheBytesPerToken(int bytesPerElement) {
        return 2L * numHiddenLayers * keyValueDim() * bytesPerElement;
    }

    /** Bytes of KV cache for a sequence of {@code tokens}: a sliding window caps the tokens kept. */
    public long kvCacheBytes(long tokens, int bytesPerElement) {
        long kept = slidingWindow == null ? tokens : Math.min(tokens, slidingWindow);
        return kept * kvCacheBytesPerToken(bytesPerElement);
    }

    /** Parameter counts by part, as {@code t2r inspect} shows them. */
    public record ParameterCount(long embedding, long attentionPerLayer, long mlpPerLayer, long normsPerLayer,
                                 long finalNorm, long lmHead, int layers) {
        public long perLayer() {
            return attentionPerLayer + mlpPerLayer + normsPerLayer;
        }

        /** Unique parameters (a tied lm_head counts zero: it is the embedding). */
        public long total() {
            return embedding + layers * perLayer() + finalNorm + lmHead;
        }
    }

    public ParameterCount parameterCount() {
        long d = hiddenSize;
        long attention = d * queryDim() + 2 * d * keyValueDim() + (long) queryDim() * d;
        if (attentionBias) attention += queryDim() + 2L * keyValueDim() + d;
        long mlp = 3 * d * intermediateSize;
        if (mlpBias) mlp += 2L * intermediateSize + d;
        return new ParameterCount((long) vocabSize * d, attention, mlp, 2 * d, d,
                tieWordEmbeddings ? 0 : (long) vocabSize * d, numHiddenLayers);
    }

    // ------------------------------------------------------------------ loading

    /** Reads {@code dir/config.json} (or {@code dir} itself when it is a file). */
    public static LlamaConfig load(Path dir) {
        Path file = Files.isDirectory(dir) ? dir.resolve(FILE_NAME) : dir;
        return of(Json.readObject(file, "a Hugging Face model directory has a config.json"), file.toString());
    }

    /** Parses config.json text; {@code where} (the file name) starts every error message. */
    public static LlamaConfig parse(String json, String where) {
        return of(Json.parseObject(json, where), where);
    }

    /** The config of a parsed config.json object; {@code where} (the file name) starts every error message. */
    public static LlamaConfig of(JsonNode root, String where) {
        try {
            return fromJson(root);
        } catch (T2rException e) {
            throw new T2rException(where + ": " + e.getMessage());
        }
    }

    private static LlamaConfig fromJson(JsonNode root) {
        Family family = family(root);
        int hidden = requiredInt(root, "hidden_size");
        int heads = requiredInt(root, "num_attention_heads");
        Integer kvHeads = optionalInt(root, "num_key_value_heads");
        Integer headDim = optionalInt(root, "head_dim");
        Integer maxPos = optionalInt(root, "max_position_embeddings");
        Integer window = null;
        if (family == Family.MISTRAL) {
            // MistralConfig's default when the key is absent; an explicit null means full attention.
            window = root.has("sliding_window") ? optionalInt(root, "sliding_window")
                    : Integer.valueOf(family.defaultSlidingWindow);
        }
        String dtype = optionalText(root, "dtype");
        if (dtype == null) dtype = optionalText(root, "torch_dtype");
        String act = optionalText(root, "hidden_act");
        Double eps = optionalDouble(root, "rms_norm_eps");
        return new LlamaConfig(family, hidden, requiredInt(root, "intermediate_size"),
                requiredInt(root, "num_hidden_layers"), heads, kvHeads == null ? heads : kvHeads,
                headDim == null ? hidden / Math.max(1, heads) : headDim, requiredInt(root, "vocab_size"),
                eps == null ? 1e-6 : eps, maxPos == null ? family.defaultMaxPositions : maxPos,
                optionalBoolean(root, "tie_word_embeddings", false), optionalBoolean(root, "attention_bias", false),
                optionalBoolean(root, "mlp_bias", false), act == null ? "silu" : act, window,
                tokenIds(root, "bos_token_id", 1), tokenIds(root, "eos_token_id", 2), dtype, rope(root));
    }

    private static Family family(JsonNode root) {
        String arch = null;
        JsonNode archs = root.get("architectures");
        if (archs != null && !archs.isNull()) {
            if (!archs.isArray() || archs.isEmpty() || !archs.get(0).isTextual()) {
                throw new T2rException("\"architectures\" must be a list of class names, got " + archs);
            }
            arch = archs.get(0).asText();
        }
        String modelType = optionalText(root, "model_type");
        Family byArch = arch == null ? null : Family.ofArchitecture(arch);
        Family byType = modelType == null ? null : Family.ofModelType(modelType);
        if (arch == null && modelType == null) {
            throw new T2rException("names neither \"architectures\" nor \"model_type\"; expected LlamaForCausalLM"
                    + " (llama) or MistralForCausalLM (mistral)");
        }
        if ((arch != null && byArch == null) || (modelType != null && byType == null)) {
            throw new T2rException("unsupported architecture " + (arch == null ? "" : "'" + arch + "' ")
                    + "(model_type " + (modelType == null ? "absent" : "'" + modelType + "'")
                    + "); supported: LlamaForCausalLM (llama), MistralForCausalLM (mistral)");
        }
        if (byArch != null && byType != null && byArch != byType) {
            throw new T2rException("architecture '" + arch + "' does not match model_type '" + modelType + "'");
        }
        return byArch != null ? byArch : byType;
    }

    private static RopeParameters rope(JsonNode root) {
        JsonNode params = root.get("rope_parameters");
        JsonNode scaling = root.get("rope_scaling");
        Double topTheta = optionalDouble(root, "rope_theta");
        JsonNode spec;
        String key;
        if (params != null && !params.isNull()) {
            spec = params;
            key = "rope_parameters";
        } else {
            spec = scaling == null || scaling.isNull() ? null : scaling;
            key = "rope_scaling";
        }
        if (spec != null && !spec.isObject()) throw new T2rException("\"" + key + "\" must be an object, got " + spec);
        double theta = topTheta == null ? 10000.0 : topTheta;
        String type = "default";
        if (spec != null) {
            Double t = optionalDouble(spec, "rope_theta");
            if (t != null) theta = t;
            String rt = optionalText(spec, "rope_type");
            if (rt == null) rt = optionalText(spec, "type"); // the older spelling
            if (rt != null) type = rt;
            Double partial = optionalDouble(spec, "partial_rotary_factor");
            if (partial == null) partial = optionalDouble(root, "partial_rotary_factor");
            if (partial != null && partial != 1.0) {
                throw new T2rException("partial_rotary_factor " + partial + " is not supported (only 1.0)");
            }
        }
        return switch (type) {
            case "default" -> RopeParameters.defaults(theta);
            case "linear" -> RopeParameters.linear(theta, requiredDouble(spec, key, "factor"));
            case "llama3" -> RopeParameters.llama3(theta, requiredDouble(spec, key, "factor"),
                    requiredDouble(spec, key, "low_freq_factor"), requiredDouble(spec, key, "high_freq_factor"),
                    (int) requiredDouble(spec, key, "original_max_position_embeddings"));
            default -> throw new T2rException("rope type '" + type + "' in \"" + key
                    + "\" is not supported; supported: default, linear, llama3");
        };
    }

    private static List<Integer> tokenIds(JsonNode root, String name, int dflt) {
        JsonNode n = root.get(name);
        if (n == null) return List.of(dflt);
        if (n.isNull()) return List.of();
        List<Integer> ids = new ArrayList<>();
        if (n.isArray()) {
            for (JsonNode e : n) ids.add(asInt(e, name));
        } else {
            ids.add(asInt(n, name));
        }
        return ids;
    }

    private static int requiredInt(JsonNode root, String name) {
        Integer v = optionalInt(root, name);
        if (v == null) throw new T2rException("missing \"" + name + "\"");
        return v;
    }

    private static Integer optionalInt(JsonNode root, String name) {
        JsonNode n = root.get(name);
        if (n == null || n.isNull()) return null;
        return asInt(n, name);
    }

    private static int asInt(JsonNode n, String name) {
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new T2rException("\"" + name + "\" must be an integer, got " + n);
        }
        return n.intValue();
    }

    private static double requiredDouble(JsonNode spec, String key, String name) {
        Double v = spec == null ? null : optionalDouble(spec, name);
        if (v == null) throw new T2rException("\"" + key + "\" lacks \"" + name + "\"");
        return v;
    }

    private static Double optionalDouble(JsonNode root, String name) {
        JsonNode n = root.get(name);
        if (n == null || n.isNull()) return null;
        if (!n.isNumber()) throw new T2rException("\"" + name + "\" must be a number, got " + n);
        return n.doubleValue();
    }

    private static String optionalText(JsonNode root, String name) {
        JsonNode n = root.get(name);
        if (n == null || n.isNull()) return null;
        if (!n.isTextual()) throw new T2rException("\"" + name + "\" must be a string, got " + n);
        return n.asText();
    }

    private static boolean optionalBoolean(JsonNode root, String name, boolean dflt) {
        JsonNode n = root.get(name);
        if (n == null || n.isNull()) return dflt;
        if (!n.isBoolean()) throw new T2rException("\"" + name + "\" must be true or false, got " + n);
        return n.booleanValue();
    }

    /** One-line summary for {@code t2r inspect}. */
    public String describe() {
        return String.format(Locale.ROOT,
                "%s: %d layers, hidden %d, %d heads (%d kv, head_dim %d), mlp %d, vocab %d, rope %s%s",
                architecture(), numHiddenLayers, hiddenSize, numAttentionHeads, numKeyValueHeads, headDim,
                intermediateSize, vocabSize, rope.describe(),
                slidingWindow == null ? "" : ", sliding window " + slidingWindow);
    }
}
