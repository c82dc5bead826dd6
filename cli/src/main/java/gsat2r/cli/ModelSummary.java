package gsat2r.cli;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorInfo;
import gsat2r.core.tokenizer.TokenizerJson;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@code t2r inspect} reports about a model directory, read from {@code config.json}, the
 * safetensors headers (no weights are read) and {@code tokenizer.json}. Parsing only: the command
 * formats it.
 *
 * <p>Config keys and defaults follow transformers' LlamaConfig / MistralConfig (num_key_value_heads
 * defaults to num_attention_heads, head_dim to hidden_size / num_attention_heads, rope_theta to
 * 10000; rope settings in either the transformers 4 form, rope_theta + rope_scaling, or the
 * transformers 5 form, rope_parameters); a GSA student ({@code model_type "gsa"}) is read with
 * {@link GsaConfig}, fla's defaults and validation included.
 */
record ModelSummary(
        String dir,
        String architecture,
        String modelType,
        int layers,
        int hidden,
        int heads,
        int kvHeads,
        int headDim,
        int intermediate,
        int vocab,
        Integer maxPositions,
        Double ropeTheta,
        String ropeScaling,
        Integer slidingWindow,
        boolean tiedEmbeddings,
        Integer gsaSlots,
        Double gateNormalizer,
        String layerPlan,
        String flaCompatibility,
        String configDtype,
        long parameters,
        Map<String, Long> parametersByDtype,
        List<Shard> shards,
        String tokenizer,
        String kvDtype,
        long kvCacheBytesPerToken,
        long recurrentStateBytes) {

    record Shard(String file, long bytes, int tensors) {}

    private static final ObjectMapper JSON = Json.STRICT;

    static ModelSummary read(Path dir) {
        Path configFile = dir.resolve("config.json");
        JsonNode c = readJson(configFile);
        Config config = new Config(configFile, c);

        String modelType = config.text("model_type", "unknown");
        String architecture = c.path("architectures").path(0).asText(modelType);
        boolean gsa = modelType.equals("gsa");

        GsaConfig student = gsa ? GsaConfig.load(configFile) : null;
        int layers = gsa ? student.numHiddenLayers() : config.positiveInt("num_hidden_layers");
        int hidden = gsa ? student.hiddenSize() : config.positiveInt("hidden_size");
        int heads = gsa ? student.numHeads() : config.positiveInt("num_attention_heads");
        int kvHeads = gsa ? student.numKvHeads() : config.optionalPositiveInt("num_key_value_heads", heads);
        int headDim = gsa ? student.headKDim() : config.optionalPositiveInt("head_dim", hidden / heads);
        if (heads % kvHeads != 0) {
            throw new T2rException(configFile + ": " + heads + " attention heads are not a multiple of " + kvHeads + " key-value heads");
        }
        int intermediate = gsa ? student.intermediateSize() : config.positiveInt("intermediate_size");
        int vocab = gsa ? student.vocabSize() : config.positiveInt("vocab_size");
        Integer maxPositions = gsa ? Integer.valueOf(student.maxPositionEmbeddings()) : config.optionalInt("max_position_embeddings");
        Integer slidingWindow = gsa ? null : config.optionalInt("sliding_window");
        boolean tied = gsa ? student.tieWordEmbeddings() : c.path("tie_word_embeddings").asBoolean(false);
        Integer slots = gsa ? student.numSlots() : null;

        JsonNode rope = c.path("rope_parameters").isObject() ? c.path("rope_parameters") : c.path("rope_scaling");
        Double theta = gsa ? null
                : c.path("rope_parameters").path("rope_theta").isNumber() ? c.path("rope_parameters").path("rope_theta").asDouble()
                : c.path("rope_theta").isNumber() ? c.path("rope_theta").asDouble() : 10000.0;
        String scaling = gsa ? null : ropeScaling(rope);

        String configDtype = c.path("dtype").isTextual() ? c.path("dtype").asText()
                : c.path("torch_dtype").isTextual() ? c.path("torch_dtype").asText() : null;

        long parameters = 0;
        Map<String, Long> byDtype = new TreeMap<>();
        List<Shard> shards = new ArrayList<>();
        try (SafeTensors st = SafeTensors.open(dir)) {
            for (TensorInfo t : st.tensors().values()) {
                parameters += t.numel();
                byDtype.merge(t.dtype().headerName(), t.numel(), Long::sum);
            }
            for (Map.Entry<Path, List<TensorInfo>> e : st.byFile().entrySet()) {
                shards.add(new Shard(e.getKey().getFileName().toString(), size(e.getKey()), e.getValue().size()));
            }
        }
        shards.sort(java.util.Comparator.comparing(Shard::file));

        Path tokenizerFile = dir.resolve("tokenizer.json");
        String tokenizer = Files.isRegularFile(tokenizerFile)
                ? describeTokenizer(tokenizerFile) : "none (no tokenizer.json)";

        // The KV cache holds keys and values per layer, per key-value head, in the dtype the model
        // runs in: the config's dtype, else the weights' most common floating dtype.
        DType kvDtype = configDtype != null && DType.fromUser(configDtype) != null ? DType.fromUser(configDtype)
                : byDtype.entrySet().stream().filter(e -> DType.fromHeader(e.getKey()).isFloating())
                        .max(Map.Entry.comparingByValue()).map(e -> DType.fromHeader(e.getKey())).orElse(DType.F32);
        // A GSA student keeps Hk [dk x M] and Hv [M x dv] per GSA layer and kv head in fp32, whatever the
        // sequence length; its hybrid attention layers (if any) keep a KV cache like a teacher's.
        long kvBytes = gsa ? student.attentionCacheBytes(1, kvDtype.byteSize())
                : 2L * layers * kvHeads * headDim * kvDtype.byteSize();
        long stateBytes = gsa ? student.recurrentStateBytes() : 0;

        return new ModelSummary(dir.toString(), architecture, modelType, layers, hidden, heads, kvHeads, headDim, intermediate, vocab,
                maxPositions, theta, scaling, slidingWindow, tied, slots, gsa ? student.gateLogitNormalizer() : null,
                gsa ? student.layerPlan() : null, gsa ? student.flaCompatibility() : null, configDtype, parameters, byDtype, shards,
                tokenizer, kvDtype.headerName(), kvBytes, stateBytes);
    }

    private static String ropeScaling(JsonNode rope) {
        if (!rope.isObject()) return "none";
        String type = rope.path("rope_type").asText(rope.path("type").asText("default"));
        if (type.equals("default")) return "none";
        StringBuilder s = new StringBuilder(type);
        rope.properties().forEach(e -> {
            String k = e.getKey();
            if (!k.equals("rope_type") && !k.equals("type") && !k.equals("rope_theta")) {
                s.append(", ").append(k).append(' ').append(e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString());
            }
        });
        return s.toString();
    }

    private static String describeTokenizer(Path file) {
        TokenizerJson t = TokenizerJson.read(file);
        return t.kind() + ", vocab " + t.vocabSize();
    }

    private static long size(Path f) {
        try {
            return Files.size(f);
        } catch (IOException e) {
            throw new T2rException(f + ": cannot read its size: " + e.getMessage(), e);
        }
    }

    static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) throw new T2rException(file + ": no such file (not a model directory?)");
        try (InputStream in = Files.newInputStream(file)) {
            JsonNode node = JSON.readTree(in);
            if (node == null || !node.isObject()) throw new T2rException(file + ": not a JSON object");
            return node;
        } catch (JacksonException e) {
            String where = e.getLocation() == null ? ""
                    : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
            throw new T2rException(file + ": not valid JSON" + where + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read: " + ErrorMessages.oneLine(e), e);
        }
    }

    /** Typed access to config.json with one-line errors that name the file and the key. */
    private record Config(Path file, JsonNode root) {
        String text(String key, String otherwise) {
            JsonNode v = root.path(key);
            return v.isTextual() ? v.asText() : otherwise;
        }

        int positiveInt(String key) {
            JsonNode v = root.path(key);
            if (v.isMissingNode() || v.isNull()) throw new T2rException(file + ": missing \"" + key + "\"");
            return checkPositive(key, v);
        }

        int optionalPositiveInt(String key, int otherwise) {
            JsonNode v = root.path(key);
            return v.isMissingNode() || v.isNull() ? otherwise : checkPositive(key, v);
        }

        Integer optionalInt(String key) {
            JsonNode v = root.path(key);
            return v.isMissingNode() || v.isNull() ? null : checkPositive(key, v);
        }

        private int checkPositive(String key, JsonNode v) {
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() <= 0) {
                throw new T2rException(file + ": \"" + key + "\" must be a positive integer, not " + v);
            }
            return v.asInt();
        }
    }
}
