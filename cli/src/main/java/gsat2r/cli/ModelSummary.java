package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorInfo;
import gsat2r.core.tokenizer.TokenizerJson;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@code t2r inspect} reports about a model directory, read from {@code config.json} (opened by
 * {@link ModelDirectory}, which tells a teacher from a student), the safetensors headers (no weights are
 * read) and {@code tokenizer.json}. Parsing only: the command formats it.
 *
 * <p>Config keys and defaults follow transformers' LlamaConfig / MistralConfig (num_key_value_heads
 * defaults to num_attention_heads, head_dim to hidden_size / num_attention_heads, rope_theta to
 * 10000; rope settings in either the transformers 4 form, rope_theta + rope_scaling, or the
 * transformers 5 form, rope_parameters); a GSA student (what {@link ModelDirectory} tells from the
 * config) is read with {@link GsaConfig}, fla's defaults and validation included.
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

    static ModelSummary read(Path dir) {
        ModelDirectory model = ModelDirectory.open(dir);
        Path configFile = model.configFile();
        JsonNode c = model.rawConfig();
        Config config = new Config(configFile, c);

        String modelType = model.modelType() == null ? "unknown" : model.modelType();
        String architecture = c.path("architectures").path(0).asText(modelType);
        boolean gsa = model.isStudent();

        GsaConfig student = gsa ? model.studentConfig() : null;
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

    /** Typed access to config.json with one-line errors that name the file and the key. */
    private record Config(Path file, JsonNode root) {
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
