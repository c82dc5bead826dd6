package gsat2r.core.config;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GsaConfigTest {

    static final String MINIMAL = """
            {"model_type": "gsa", "hidden_size": 64, "num_hidden_layers": 2, "num_heads": 4, "vocab_size": 512}
            """;

    @Test
    void appliesFlasDefaults() {
        GsaConfig c = GsaConfig.parse(MINIMAL, "config.json");
        assertEquals(4, c.numKvHeads(), "num_kv_heads defaults to num_heads");
        assertEquals(64, c.numSlots(), "num_slots defaults to 64 when absent");
        assertEquals(8.0, c.gateLogitNormalizer());
        assertEquals(256, c.intermediateSize(), "256·ceil(int(64·4·2/3)/256)");
        assertEquals(1e-6, c.normEps());
        assertEquals(16, c.headKDim());
        assertEquals(List.of(1), c.bosTokenIds());
        assertEquals(List.of(2), c.eosTokenIds());
        assertTrue(c.attn().isEmpty());
        assertNull(c.flaCompatibility());

        GsaConfig nullSlots = GsaConfig.parse(MINIMAL.replace("}", ", \"num_slots\": null, \"num_kv_heads\": null}"), "c");
        assertEquals(16, nullSlots.numSlots(), "num_slots null means head_k_dim");
        assertEquals(5632, GsaConfig.defaultIntermediateSize(2048, 4));
    }

    @Test
    void readsTheFlaFixtureConfigAndWritesItBack() {
        String fla = """
                {"architectures": ["GSAForCausalLM"], "attn": null, "attnres_block_size": null, "bos_token_id": 1,
                 "clamp_max": null, "clamp_min": null, "conv_size": 4, "dtype": "float32", "elementwise_affine": true,
                 "eos_token_id": 2, "expand_k": 1, "expand_v": 1, "feature_map": "swish", "fuse_cross_entropy": false,
                 "fuse_linear_cross_entropy": false, "fuse_norm": false, "fuse_swiglu": false,
                 "gate_logit_normalizer": 8, "hidden_act": "swish", "hidden_ratio": 4, "hidden_size": 64,
                 "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 2048,
                 "model_type": "gsa", "norm_eps": 1e-05, "num_heads": 4, "num_hidden_layers": 2, "num_kv_heads": 2,
                 "num_slots": 16, "pad_token_id": null, "tie_word_embeddings": false, "transformers_version": "5.17.0",
                 "use_cache": true, "use_l2warp": false, "use_norm": true, "use_output_gate": false,
                 "use_short_conv": false, "vocab_size": 512}
                """;
        GsaConfig c = GsaConfig.parse(fla, "config.json");
        assertEquals(2, c.numKvHeads());
        assertEquals(16, c.numSlots());
        assertEquals(128, c.intermediateSize());
        assertEquals(1e-5, c.normEps());
        assertEquals(2L * 2 * 16 * (16 + 16) * 4, c.recurrentStateBytes());
        String written = c.toJsonText();
        assertEquals(c, GsaConfig.parse(written, "again"));
        // Every key fla wrote is written back with the same value, except the transformers version.
        com.fasterxml.jackson.databind.JsonNode in = readTree(fla), out = readTree(written);
        in.properties().forEach(e -> {
            if (!e.getKey().equals("transformers_version")) assertEquals(e.getValue(), out.get(e.getKey()), e.getKey());
        });
    }

    /** fla's use_short_conv with its conv_size (4 when absent): read, counted in the state, written back. */
    @Test
    void shortConvolutions() {
        GsaConfig c = GsaConfig.parse(MINIMAL.replace("}", ", \"use_short_conv\": true, \"conv_size\": 3}"), "config.json");
        assertEquals(3, c.shortConv());
        GsaConfig again = GsaConfig.parse(c.toJsonText(), "again");
        assertEquals(c, again);
        assertTrue(c.toJsonText().contains("\"use_short_conv\": true"));
        assertTrue(c.toJsonText().contains("\"conv_size\": 3"));
        GsaConfig plain = GsaConfig.parse(MINIMAL, "config.json");
        assertEquals(0, plain.shortConv());
        long convRows = 2L * (c.keyDim() + c.kvKeyDim() + c.kvValueDim());           // K − 1 = 2 rows of q, k and v
        assertEquals(plain.recurrentStateBytes() + c.numHiddenLayers() * convRows * 4, c.recurrentStateBytes());
        assertEquals(4, GsaConfig.parse(MINIMAL.replace("}", ", \"use_short_conv\": true}"), "c").shortConv());
        assertEquals(0, GsaConfig.parse(MINIMAL.replace("}", ", \"conv_size\": 2}"), "c").shortConv(), "only with use_short_conv");
    }

    @Test
    void hybridSpecsWithDefaultsAndExtensions() {
        GsaConfig c = GsaConfig.parse(MINIMAL.replace("}", """
                , "num_hidden_layers": 4, "attn": [{"layers": [1, 3], "num_heads": 4},
                 {"layers": [0], "num_heads": 2, "num_kv_heads": 1, "window_size": 16, "rope_theta": 500000.0,
                  "head_dim": 24, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 32}, "note": "kept"}]}
                """).replace("\"num_hidden_layers\": 2, ", ""), "config.json");
        assertTrue(c.isGsaLayer(2));
        GsaConfig.AttentionSpec a = c.attentionAt(3);
        assertEquals(4, a.numKvHeads());
        assertEquals(10000.0, a.ropeTheta());
        assertEquals(16, a.headDim(64));
        assertEquals(0, a.window());
        GsaConfig.AttentionSpec b = c.attentionAt(0);
        assertEquals(24, b.headDim(64));
        assertEquals(RopeParameters.Type.LLAMA3, b.rope().type());
        assertEquals(500000.0, b.rope().theta());
        assertEquals("GSA 2; attention 1, 3 (4 heads, 4 kv, head_dim 16, full, rope default, theta 10000.0); attention 0 "
                + "(2 heads, 1 kv, head_dim 24, window 16, rope llama3, theta 500000.0, factor 8.0, low_freq_factor 1.0, "
                + "high_freq_factor 4.0, original_max_position_embeddings 32)", c.layerPlan());
        assertTrue(c.flaCompatibility().contains("head_dim 24"), c.flaCompatibility());
        assertTrue(c.flaCompatibility().contains("rope_scaling llama3"), c.flaCompatibility());
        GsaConfig again = GsaConfig.parse(c.toJsonText(), "again");
        assertEquals(c, again);
        assertTrue(c.toJsonText().contains("\"note\": \"kept\""));
        assertEquals(2L * 2 * 100 * 4 * 16 * 2 + 2L * 16 * 1 * 24 * 2, c.attentionCacheBytes(100, 2));
    }

    @Test
    void refusesWhatItDoesNotComputeWithOneLineNamingTheKey() {
        assertRefused("\"use_short_conv\": true, \"conv_size\": 0", "config.json: \"conv_size\" (0) must be positive");
        assertRefused("\"use_short_conv\": true, \"conv_size\": 2000", "config.json: \"conv_size\" (2000) must be in [1, 1024]");
        assertRefused("\"feature_map\": \"relu\"", "config.json: \"feature_map\" 'relu' is not supported (only swish)");
        assertRefused("\"use_output_gate\": true", "config.json: \"use_output_gate\": true is not supported");
        assertRefused("\"attnres_block_size\": 4", "config.json: \"attnres_block_size\" 4 is not supported (only null)");
        assertRefused("\"elementwise_affine\": false", "config.json: \"elementwise_affine\": false is not supported");
        assertRefused("\"hidden_act\": \"powlu\"", "config.json: \"hidden_act\" 'powlu' is not supported");
        assertRefused("\"num_slots\": \"many\"", "config.json: \"num_slots\" must be an integer, got \"many\"");
        assertRefused("\"num_kv_heads\": 3", "config.json: \"num_heads\" (4) is not a multiple of \"num_kv_heads\" (3)");
        assertRefused("\"attn\": {\"layers\": [2], \"num_heads\": 4}", "config.json: \"attn\" spec 0: layer 2 is outside [0, 2)");
        assertRefused("\"attn\": [{\"layers\": [0], \"num_heads\": 4}, {\"layers\": [0], \"num_heads\": 4}]",
                "config.json: \"attn\" spec 1: layer 0 is assigned twice");
        assertRefused("\"attn\": {\"layers\": [0]}", "config.json: \"attn\": missing \"num_heads\"");
        T2rException e = assertThrows(T2rException.class, () -> GsaConfig.parse("{\"model_type\": \"llama\"}", "x.json"));
        assertEquals("x.json: \"model_type\" is 'llama'; a GSA student has \"gsa\"", e.getMessage());
    }

    private static void assertRefused(String entry, String messageStart) {
        String json = MINIMAL.replace("}", ", " + entry + "}");
        T2rException e = assertThrows(T2rException.class, () -> GsaConfig.parse(json, "config.json"));
        assertTrue(e.getMessage().startsWith(messageStart), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void expandRatiosGiveExactlyTheTeachersDims() {
        for (int hidden : new int[] {96, 100, 384, 4096, 5120}) {
            for (int dim : new int[] {128, 256, 640, 4096, 5120 + 1024}) {
                double r = GsaConfig.expandFor(hidden, dim);
                assertEquals(dim, (int) (hidden * r), hidden + " -> " + dim);
            }
        }
        assertEquals(1.0, GsaConfig.expandFor(96, 96));
    }

    private static com.fasterxml.jackson.databind.JsonNode readTree(String s) {
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().readTree(s);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
