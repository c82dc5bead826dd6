package gsat2r.core.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;

import java.util.ArrayList;
import java.util.List;

/**
 * A GSA student's {@code config.json} tree and {@link GsaConfig}, both ways: fla 0.5.2's keys with its
 * defaults for absent ones, the settings this project does not implement refused by name, and every key
 * fla writes (see {@link GsaConfig} for what each means).
 */
final class GsaConfigJson {
    private GsaConfigJson() {}

    // ------------------------------------------------------------------ reading

    /** The config of a config.json object (fla's defaults for absent keys); a setting this project cannot run is refused by name. */
    static GsaConfig read(JsonNode root) {
        String type = text(root, "model_type", null);
        if (!GsaConfig.MODEL_TYPE.equals(type)) {
            throw new T2rException("\"model_type\" is " + (type == null ? "absent" : "'" + type + "'")
                    + "; a GSA student has \"gsa\"");
        }
        refuseUnless(root, "use_output_gate", false, "the output gate is not implemented");
        refuseUnless(root, "elementwise_affine", true, "g_norm without a weight is not implemented");
        String featureMap = text(root, "feature_map", "swish");
        if (!"swish".equals(featureMap)) {
            throw new T2rException("\"feature_map\" '" + featureMap + "' is not supported (only swish)");
        }
        String act = text(root, "hidden_act", "swish");
        if (!"swish".equals(act) && !"silu".equals(act)) {
            throw new T2rException("\"hidden_act\" '" + act + "' is not supported (only swish)");
        }
        JsonNode attnres = root.get("attnres_block_size");
        if (attnres != null && !attnres.isNull()) {
            throw new T2rException("\"attnres_block_size\" " + attnres + " is not supported (only null)");
        }
        int hidden = integer(root, "hidden_size", 2048);
        int layers = integer(root, "num_hidden_layers", 24);
        int heads = integer(root, "num_heads", 4);
        Integer kvHeads = optionalInt(root, "num_kv_heads");
        Double expandK = optionalNumber(root, "expand_k");
        if (expandK == null) expandK = optionalNumber(root, "exapnd_k");
        Double expandV = optionalNumber(root, "expand_v");
        if (expandV == null) expandV = optionalNumber(root, "exapnd_v");
        double ek = expandK == null ? 1.0 : expandK, ev = expandV == null ? 1.0 : expandV;
        GsaConfig.positiveNumber("expand_k", ek);
        GsaConfig.positive("num_heads", heads);
        Integer slots = optionalInt(root, "num_slots");
        if (!root.has("num_slots")) slots = 64;
        if (slots == null) slots = GsaConfig.dimOf(hidden, ek) / heads;
        JsonNode tau = root.get("gate_logit_normalizer");
        double gate = 8;
        if (tau != null) {
            if (!tau.isNumber()) throw new T2rException("\"gate_logit_normalizer\" must be a number, got " + tau);
            gate = tau.doubleValue();
        }
        Double ratio = optionalNumber(root, "hidden_ratio");
        double hiddenRatio = ratio == null ? 4 : ratio;
        Integer intermediate = optionalInt(root, "intermediate_size");
        if (intermediate == null) intermediate = GsaConfig.defaultIntermediateSize(hidden, hiddenRatio);
        Double eps = optionalNumber(root, "norm_eps");
        Integer maxPos = optionalInt(root, "max_position_embeddings");
        String dtype = text(root, "dtype", null);
        if (dtype == null) dtype = text(root, "torch_dtype", null);
        int shortConv = 0;
        if (bool(root, "use_short_conv", false)) {
            shortConv = integer(root, "conv_size", 4);
            GsaConfig.positive("conv_size", shortConv);
        }
        JsonNode prov = root.get("t2r");
        return new GsaConfig(hidden, layers, heads, kvHeads == null ? heads : kvHeads, slots, gate, ek, ev,
                intermediate, hiddenRatio, eps == null ? 1e-6 : eps, integer(root, "vocab_size", 32000),
                bool(root, "tie_word_embeddings", false), tokenIds(root, "bos_token_id", 1),
                tokenIds(root, "eos_token_id", 2), maxPos == null ? 2048 : maxPos, attentionSpecs(root.get("attn")),
                shortConv, dtype, prov != null && prov.isObject() ? (ObjectNode) prov.deepCopy() : null);
    }

    private static List<GsaConfig.AttentionSpec> attentionSpecs(JsonNode attn) {
        if (attn == null || attn.isNull()) return List.of();
        List<GsaConfig.AttentionSpec> specs = new ArrayList<>();
        if (attn.isObject()) {
            specs.add(attentionSpec(attn, "\"attn\""));
        } else if (attn.isArray()) {
            for (int i = 0; i < attn.size(); i++) specs.add(attentionSpec(attn.get(i), "\"attn\"[" + i + "]"));
        } else {
            throw new T2rException("\"attn\" must be null, an object or a list of objects, got " + attn);
        }
        return specs;
    }

    private static GsaConfig.AttentionSpec attentionSpec(JsonNode s, String where) {
        if (!s.isObject()) throw new T2rException(where + " must be an object, got " + s);
        try {
            JsonNode layers = s.get("layers");
            if (layers == null || !layers.isArray()) throw new T2rException("\"layers\" must be a list of layer indices");
            List<Integer> ls = new ArrayList<>();
            for (JsonNode l : layers) {
                if (!l.isIntegralNumber() || !l.canConvertToInt()) {
                    throw new T2rException("\"layers\" must hold integers, got " + l);
                }
                ls.add(l.intValue());
            }
            if (!s.has("num_heads")) throw new T2rException("missing \"num_heads\"");
            int heads = integer(s, "num_heads", 0);
            Integer kv = optionalInt(s, "num_kv_heads");
            Double theta = optionalNumber(s, "rope_theta");
            double th = theta == null ? 10000.0 : theta;
            RopeParameters scaling = ropeScaling(s.get("rope_scaling"), th);
            ObjectNode extra = JsonNodeFactory.instance.objectNode();
            s.properties().forEach(e -> {
                if (!GsaConfig.AttentionSpec.KNOWN.contains(e.getKey())) extra.set(e.getKey(), e.getValue());
            });
            return new GsaConfig.AttentionSpec(ls, heads, kv == null ? heads : kv, bool(s, "qkv_bias", false),
                    optionalInt(s, "window_size"), th, optionalInt(s, "head_dim"), scaling, extra);
        } catch (T2rException e) {
            throw new T2rException(where + ": " + e.getMessage());
        }
    }

    private static RopeParameters ropeScaling(JsonNode r, double theta) {
        if (r == null || r.isNull()) return null;
        if (!r.isObject()) throw new T2rException("\"rope_scaling\" must be an object, got " + r);
        String type = text(r, "rope_type", null);
        if (type == null) type = text(r, "type", "default");
        return switch (type) {
            case "default" -> null;
            case "linear" -> RopeParameters.linear(theta, requiredNumber(r, "rope_scaling", "factor"));
            case "llama3" -> RopeParameters.llama3(theta, requiredNumber(r, "rope_scaling", "factor"),
                    requiredNumber(r, "rope_scaling", "low_freq_factor"),
                    requiredNumber(r, "rope_scaling", "high_freq_factor"),
                    (int) requiredNumber(r, "rope_scaling", "original_max_position_embeddings"));
            default -> throw new T2rException("\"rope_scaling\" type '" + type
                    + "' is not supported; supported: default, linear, llama3");
        };
    }

    private static void refuseUnless(JsonNode root, String key, boolean allowed, String why) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return;
        if (!n.isBoolean()) throw new T2rException("\"" + key + "\" must be true or false, got " + n);
        if (n.booleanValue() != allowed) throw new T2rException("\"" + key + "\": " + n + " is not supported (" + why + ")");
    }

    private static int integer(JsonNode root, String key, int dflt) {
        Integer v = optionalInt(root, key);
        return v == null ? dflt : v;
    }

    private static Integer optionalInt(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return null;
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new T2rException("\"" + key + "\" must be an integer, got " + n);
        }
        return n.intValue();
    }

    private static Double optionalNumber(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return null;
        if (!n.isNumber()) throw new T2rException("\"" + key + "\" must be a number, got " + n);
        return n.doubleValue();
    }

    private static double requiredNumber(JsonNode spec, String where, String key) {
        Double v = optionalNumber(spec, key);
        if (v == null) throw new T2rException("\"" + where + "\" lacks \"" + key + "\"");
        return v;
    }

    private static String text(JsonNode root, String key, String dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return dflt;
        if (!n.isTextual()) throw new T2rException("\"" + key + "\" must be a string, got " + n);
        return n.asText();
    }

    private static boolean bool(JsonNode root, String key, boolean dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return dflt;
        if (!n.isBoolean()) throw new T2rException("\"" + key + "\" must be true or false, got " + n);
        return n.booleanValue();
    }

    private static List<Integer> tokenIds(JsonNode root, String key, int dflt) {
        JsonNode n = root.get(key);
        if (n == null) return List.of(dflt);
        if (n.isNull()) return List.of();
        List<Integer> ids = new ArrayList<>();
        for (JsonNode e : n.isArray() ? n : JsonNodeFactory.instance.arrayNode().add(n)) {
            if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                throw new T2rException("\"" + key + "\" must be an integer or a list of integers, got " + n);
            }
            ids.add(e.intValue());
        }
        return ids;
    }

    // ------------------------------------------------------------------ writing

    /**
     * The config.json tree fla writes for this config: every key of fla 0.5.2's {@code GSAConfig}
     * ({@code fuse_*} false: this checkpoint was not made by fused kernels, and unfused is the exact
     * reference), our {@code "t2r"} provenance when present.
     */
    static ObjectNode write(GsaConfig c) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode o = f.objectNode();
        o.putArray("architectures").add(GsaConfig.ARCHITECTURE);
        o.put("model_type", GsaConfig.MODEL_TYPE);
        o.set("attn", attnJson(c));
        o.putNull("attnres_block_size");
        o.set("bos_token_id", idsJson(c.bosTokenIds()));
        o.putNull("clamp_max");
        o.putNull("clamp_min");
        o.put("conv_size", c.shortConv() > 0 ? c.shortConv() : 4);
        if (c.dtype() != null) o.put("dtype", c.dtype());
        o.put("elementwise_affine", true);
        o.set("eos_token_id", idsJson(c.eosTokenIds()));
        o.set("expand_k", number(c.expandK()));
        o.set("expand_v", number(c.expandV()));
        o.put("feature_map", "swish");
        o.put("fuse_cross_entropy", false);
        o.put("fuse_linear_cross_entropy", false);
        o.put("fuse_norm", false);
        o.put("fuse_swiglu", false);
        o.set("gate_logit_normalizer", number(c.gateLogitNormalizer()));
        o.put("hidden_act", "swish");
        o.set("hidden_ratio", number(c.hiddenRatio()));
        o.put("hidden_size", c.hiddenSize());
        o.put("initializer_range", 0.02);
        o.put("intermediate_size", c.intermediateSize());
        o.put("max_position_embeddings", c.maxPositionEmbeddings());
        o.put("norm_eps", c.normEps());
        o.put("num_heads", c.numHeads());
        o.put("num_hidden_layers", c.numHiddenLayers());
        o.put("num_kv_heads", c.numKvHeads());
        o.put("num_slots", c.numSlots());
        o.putNull("pad_token_id");
        if (c.provenance() != null) o.set("t2r", c.provenance().deepCopy());
        o.put("tie_word_embeddings", c.tieWordEmbeddings());
        o.put("use_cache", true);
        o.put("use_l2warp", false);
        o.put("use_norm", true);
        o.put("use_output_gate", false);
        o.put("use_short_conv", c.shortConv() > 0);
        o.put("vocab_size", c.vocabSize());
        return o;
    }

    private static ArrayNode attnJson(GsaConfig c) {
        if (c.attn().isEmpty()) return null;
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        for (GsaConfig.AttentionSpec s : c.attn()) {
            ObjectNode o = s.extra().deepCopy();
            ArrayNode layers = o.putArray("layers");
            s.layers().forEach(layers::add);
            o.put("num_heads", s.numHeads());
            o.put("num_kv_heads", s.numKvHeads());
            o.put("qkv_bias", s.qkvBias());
            if (s.windowSize() == null) o.putNull("window_size");
            else o.put("window_size", s.windowSize());
            o.put("rope_theta", s.ropeTheta());
            if (s.headDim() != null && s.headDim() * s.numHeads() != c.hiddenSize()) o.put("head_dim", s.headDim());
            if (s.ropeScaling() != null) o.set("rope_scaling", ropeScalingJson(s.ropeScaling()));
            a.add(o);
        }
        return a;
    }

    private static ObjectNode ropeScalingJson(RopeParameters r) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("rope_type", r.type().hfName());
        o.put("factor", r.factor());
        if (r.type() == RopeParameters.Type.LLAMA3) {
            o.put("low_freq_factor", r.lowFreqFactor());
            o.put("high_freq_factor", r.highFreqFactor());
            o.put("original_max_position_embeddings", r.originalMaxPositionEmbeddings());
        }
        return o;
    }

    private static JsonNode idsJson(List<Integer> ids) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        if (ids.isEmpty()) return f.nullNode();
        if (ids.size() == 1) return f.numberNode(ids.get(0));
        ArrayNode a = f.arrayNode();
        ids.forEach(a::add);
        return a;
    }

    /** An integral value as a JSON integer (fla writes {@code "expand_k": 1}), anything else as a float. */
    private static JsonNode number(double v) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? f.numberNode((long) v) : f.numberNode(v);
    }
}
