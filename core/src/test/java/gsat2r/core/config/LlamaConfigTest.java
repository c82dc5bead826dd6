package gsat2r.core.config;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class LlamaConfigTest {

    /** The shape of the shared tiny-llama's config (transformers 5 writes rope_parameters). */
    static final String TINY_LLAMA = """
            {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
             "bos_token_id": 0, "dtype": "bfloat16", "eos_token_id": 1, "head_dim": 64, "hidden_act": "silu",
             "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1024,
             "max_position_embeddings": 4096, "mlp_bias": false, "model_type": "llama",
             "num_attention_heads": 6, "num_hidden_layers": 8, "num_key_value_heads": 2, "pad_token_id": null,
             "pretraining_tp": 1, "rms_norm_eps": 1e-05,
             "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"},
             "tie_word_embeddings": true, "transformers_version": "5.17.0", "use_cache": true, "vocab_size": 8192}
            """;

    static String with(String json, String key, String value) {
        String k = "\"" + key + "\"";
        int at = json.indexOf(k);
        if (at < 0) return json.replaceFirst("\\{", "{" + k + ": " + value + ", ");
        int start = at + k.length() + 1;
        int depth = 0, end = start;
        for (; end < json.length(); end++) {
            char c = json.charAt(end);
            if (c == '{' || c == '[') depth++;
            if (c == '}' || c == ']') depth--;
            if ((c == ',' && depth == 0) || depth < 0) break;
        }
        return json.substring(0, start) + " " + value + json.substring(end);
    }

    static LlamaConfig parse(String json) {
        return LlamaConfig.parse(json, "m/config.json");
    }

    static String error(String json) {
        return assertThrows(T2rException.class, () -> parse(json)).getMessage();
    }

    @Test
    void readsTheTinyLlamaConfig() {
        LlamaConfig c = parse(TINY_LLAMA);
        assertEquals(LlamaConfig.Family.LLAMA, c.family());
        assertEquals("LlamaForCausalLM", c.architecture());
        assertEquals(384, c.hiddenSize());
        assertEquals(1024, c.intermediateSize());
        assertEquals(8, c.numHiddenLayers());
        assertEquals(6, c.numAttentionHeads());
        assertEquals(2, c.numKeyValueHeads());
        assertEquals(3, c.groupSize());
        assertEquals(64, c.headDim());
        assertEquals(8192, c.vocabSize());
        assertEquals(1e-5, c.rmsNormEps());
        assertTrue(c.tieWordEmbeddings());
        assertNull(c.slidingWindow());
        assertEquals(List.of(0), c.bosTokenIds());
        assertEquals(List.of(1), c.eosTokenIds());
        assertEquals("bfloat16", c.dtype());
        assertEquals(gsat2r.core.safetensors.DType.BF16, c.storageType());
        assertEquals(RopeParameters.defaults(500000), c.rope());
        // 15,735,168 as the training run reported (reference.json "params").
        assertEquals(15_735_168L, c.parameterCount().total());
        // bf16 cache: 2 (k, v) x 8 layers x 2 kv heads x 64 x 2 bytes.
        assertEquals(4096L, c.kvCacheBytesPerToken(2));
        assertEquals(4096L * 512, c.kvCacheBytes(512, 2));
    }

    @Test
    void defaultsFollowTransformers() {
        String minimal = """
                {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "vocab_size": 100}""";
        LlamaConfig c = parse(minimal);
        assertEquals(4, c.numKeyValueHeads());
        assertEquals(16, c.headDim());
        assertEquals(1e-6, c.rmsNormEps());
        assertEquals(2048, c.maxPositionEmbeddings());
        assertFalse(c.tieWordEmbeddings());
        assertEquals(RopeParameters.defaults(10000), c.rope());
        assertEquals(List.of(1), c.bosTokenIds());
        assertEquals(List.of(2), c.eosTokenIds());
        assertNull(c.dtype());
    }

    @Test
    void olderRopeSpellings() {
        String llama32 = with(with(TINY_LLAMA, "rope_parameters", "null"), "rope_scaling",
                "{\"factor\": 32.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0,"
                        + " \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}");
        llama32 = with(llama32, "rope_theta", "500000.0");
        assertEquals(RopeParameters.llama3(500000, 32, 1, 4, 8192), parse(llama32).rope());

        String linear = with(with(TINY_LLAMA, "rope_parameters", "null"), "rope_scaling",
                "{\"type\": \"linear\", \"factor\": 2.0}");
        assertEquals(RopeParameters.linear(10000, 2), parse(linear).rope());

        String v5llama3 = with(TINY_LLAMA, "rope_parameters", "{\"rope_type\": \"llama3\", \"rope_theta\": 10000.0,"
                + " \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
                + " \"original_max_position_embeddings\": 64}");
        assertEquals(RopeParameters.llama3(10000, 8, 1, 4, 64), parse(v5llama3).rope());
    }

    @ParameterizedTest
    @ValueSource(strings = {"dynamic", "yarn", "longrope", "su"})
    void unsupportedRopeTypesAreNamed(String type) {
        String json = with(TINY_LLAMA, "rope_parameters", "{\"rope_type\": \"" + type + "\", \"rope_theta\": 1e4, \"factor\": 2.0}");
        String m = error(json);
        assertTrue(m.startsWith("m/config.json: "), m);
        assertTrue(m.contains("'" + type + "'"), m);
        assertTrue(m.contains("default, linear, llama3"), m);
    }

    @Test
    void mistralSlidingWindowAndHeadDim() {
        String mistral = """
                {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 48,
                 "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 300, "rope_theta": 10000.0,
                 "sliding_window": 16, "bos_token_id": [1], "eos_token_id": [2, 7], "torch_dtype": "float32"}""";
        LlamaConfig c = parse(mistral);
        assertEquals(LlamaConfig.Family.MISTRAL, c.family());
        assertEquals(16, c.slidingWindow());
        assertEquals(16, c.headDim());
        assertEquals(64, c.queryDim());
        assertEquals(16, c.keyValueDim());
        assertEquals(List.of(2, 7), c.eosTokenIds());
        assertEquals("float32", c.dtype());
        assertEquals(16L * c.kvCacheBytesPerToken(4), c.kvCacheBytes(1000, 4), "the window caps the cache");
        assertEquals(4096, parse(mistral.replace("\"sliding_window\": 16,", "")).slidingWindow(),
                "MistralConfig's default window when the key is absent");
        assertNull(parse(mistral.replace("\"sliding_window\": 16", "\"sliding_window\": null")).slidingWindow());
    }

    @Test
    void parameterCountWithBiasesAndUntiedHead() {
        String json = with(with(with(TINY_LLAMA, "attention_bias", "true"), "mlp_bias", "true"),
                "tie_word_embeddings", "false");
        LlamaConfig.ParameterCount p = parse(json).parameterCount();
        long d = 384, q = 384, kv = 128, i = 1024, v = 8192;
        long attention = d * q + 2 * d * kv + q * d + (q + 2 * kv + d);
        long mlp = 3 * d * i + (2 * i + d);
        assertEquals(attention, p.attentionPerLayer());
        assertEquals(mlp, p.mlpPerLayer());
        assertEquals(v * d, p.lmHead());
        assertEquals(2 * v * d + 8 * (attention + mlp + 2 * d) + d, p.total());
    }

    @Test
    void refusalsAreOneLineAndNameTheFile() {
        assertMessage(with(with(TINY_LLAMA, "architectures", "[\"Qwen2ForCausalLM\"]"), "model_type", "\"qwen2\""),
                "unsupported architecture 'Qwen2ForCausalLM' (model_type 'qwen2')");
        assertMessage(with(TINY_LLAMA, "model_type", "\"mistral\""),
                "architecture 'LlamaForCausalLM' does not match model_type 'mistral'");
        assertMessage(with(TINY_LLAMA, "architectures", "[\"LlamaModel\"]"), "unsupported architecture 'LlamaModel'");
        assertMessage(with(TINY_LLAMA, "num_key_value_heads", "4"),
                "num_attention_heads (6) is not a multiple of num_key_value_heads (4)");
        assertMessage(with(TINY_LLAMA, "hidden_act", "\"gelu\""), "hidden_act 'gelu' is not supported");
        assertMessage(with(TINY_LLAMA, "hidden_size", "\"big\""), "\"hidden_size\" must be an integer");
        assertMessage(with(TINY_LLAMA, "num_hidden_layers", "0"), "num_hidden_layers (0) must be positive");
        assertMessage(with(TINY_LLAMA, "head_dim", "63"), "head_dim (63) must be even");
        assertMessage(with(TINY_LLAMA, "rms_norm_eps", "-1"), "rms_norm_eps (-1.0) must be a positive number");
        assertMessage(TINY_LLAMA.replace("\"vocab_size\": 8192", "\"vocab_sizes\": 8192"), "missing \"vocab_size\"");
        assertMessage(with(TINY_LLAMA, "rope_parameters", "{\"rope_type\": \"llama3\", \"rope_theta\": 1e4, \"factor\": 8}"),
                "\"rope_parameters\" lacks \"low_freq_factor\"");
        assertMessage(with(TINY_LLAMA, "rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": 1e4,"
                + " \"partial_rotary_factor\": 0.5}"), "partial_rotary_factor 0.5 is not supported");
        assertMessage("{\"model_type\": \"llama\",", "not valid JSON");
        assertMessage("[1, 2]", "not a JSON object");
    }

    private static void assertMessage(String json, String expected) {
        String m = error(json);
        assertTrue(m.startsWith("m/config.json: "), m);
        assertTrue(m.contains(expected), "message: " + m);
        assertFalse(m.contains("\n"), "one line: " + m);
    }

    @Test
    void loadsFromADirectory(@TempDir Path dir) throws Exception {
        String m = assertThrows(T2rException.class, () -> LlamaConfig.load(dir)).getMessage();
        assertTrue(m.contains(dir.resolve("config.json").toString()) && m.contains("no such file"), m);
        Files.writeString(dir.resolve("config.json"), TINY_LLAMA);
        assertEquals(8192, LlamaConfig.load(dir).vocabSize());
        Files.writeString(dir.resolve("config.json"), with(TINY_LLAMA, "architectures", "[\"GemmaForCausalLM\"]"));
        m = assertThrows(T2rException.class, () -> LlamaConfig.load(dir)).getMessage();
        assertTrue(m.startsWith(dir.resolve("config.json") + ": unsupported architecture 'GemmaForCausalLM'"), m);
    }
}
