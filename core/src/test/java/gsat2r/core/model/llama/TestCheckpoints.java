package gsat2r.core.model.llama;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.config.RopeParameters;
import gsat2r.core.safetensors.DType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Small Llama/Mistral checkpoints for tests: random weights for a config (std 1/sqrt(fan_in) so that
 * activations stay O(1), norm weights in [0.5, 1.5] so that every parameter matters), written as
 * Hugging Face writes them: {@code config.json} and a {@code model.safetensors} in F32 or BF16.
 */
final class TestCheckpoints {
    private TestCheckpoints() {}

    static LlamaConfig config(LlamaConfig.Family family, int hidden, int intermediate, int layers, int heads,
                              int kvHeads, int headDim, int vocab, Integer window, boolean tied, boolean attentionBias,
                              boolean mlpBias, RopeParameters rope, String dtype) {
        return new LlamaConfig(family, hidden, intermediate, layers, heads, kvHeads, headDim, vocab, 1e-5, 256,
                tied, attentionBias, mlpBias, "silu", window, List.of(0), List.of(1), dtype, rope);
    }

    /** Random tensors under their checkpoint names (no lm_head when tied). */
    static Map<String, float[]> randomTensors(LlamaConfig c, long seed) {
        Random rnd = new Random(seed);
        Map<String, float[]> m = new LinkedHashMap<>();
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            for (LlamaTensor t : LlamaTensor.values()) {
                if (t.scope() == LlamaTensor.Scope.LAYER && t.presentIn(c)) m.put(t.hfName(l), random(rnd, t, c));
            }
        }
        for (LlamaTensor t : List.of(LlamaTensor.EMBED_TOKENS, LlamaTensor.FINAL_NORM, LlamaTensor.LM_HEAD)) {
            if (t.presentIn(c)) m.put(t.hfName(0), random(rnd, t, c));
        }
        return m;
    }

    private static float[] random(Random rnd, LlamaTensor t, LlamaConfig c) {
        long[] shape = t.shape(c);
        int n = (int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        float[] a = new float[n];
        boolean norm = t == LlamaTensor.INPUT_NORM || t == LlamaTensor.POST_ATTENTION_NORM || t == LlamaTensor.FINAL_NORM;
        double std = t == LlamaTensor.EMBED_TOKENS ? 1.0 : shape.length == 2 ? 1 / Math.sqrt(shape[1]) : 0.1;
        for (int i = 0; i < n; i++) a[i] = norm ? (float) (0.5 + rnd.nextDouble()) : (float) (rnd.nextGaussian() * std);
        return a;
    }

    /** Weights in memory, exactly as {@link LlamaWeights#load} would build them from these tensors. */
    static LlamaWeights weights(LlamaConfig c, Map<String, float[]> tensors) {
        List<LlamaWeights.Layer> layers = new java.util.ArrayList<>();
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            Map<LlamaTensor, float[]> m = new java.util.EnumMap<>(LlamaTensor.class);
            for (LlamaTensor t : LlamaTensor.values()) {
                if (t.scope() == LlamaTensor.Scope.LAYER && t.presentIn(c)) m.put(t, tensors.get(t.hfName(l)));
            }
            layers.add(LlamaWeights.Layer.of(m));
        }
        float[] embed = tensors.get(LlamaTensor.EMBED_TOKENS.hfName(0));
        return new LlamaWeights(embed, layers, tensors.get(LlamaTensor.FINAL_NORM.hfName(0)),
                c.tieWordEmbeddings() ? embed : tensors.get(LlamaTensor.LM_HEAD.hfName(0)));
    }

    /** Rounds every value to bf16 (as stored in a BF16 checkpoint), in place. */
    static Map<String, float[]> roundToBf16(Map<String, float[]> tensors) {
        for (float[] a : tensors.values()) {
            for (int i = 0; i < a.length; i++) {
                int bits = Float.floatToRawIntBits(a[i]);
                a[i] = Float.intBitsToFloat((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000);
            }
        }
        return tensors;
    }

    static String configJson(LlamaConfig c) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode o = json.createObjectNode();
        o.putArray("architectures").add(c.architecture());
        o.put("model_type", c.modelType());
        o.put("hidden_size", c.hiddenSize());
        o.put("intermediate_size", c.intermediateSize());
        o.put("num_hidden_layers", c.numHiddenLayers());
        o.put("num_attention_heads", c.numAttentionHeads());
        o.put("num_key_value_heads", c.numKeyValueHeads());
        o.put("head_dim", c.headDim());
        o.put("vocab_size", c.vocabSize());
        o.put("rms_norm_eps", c.rmsNormEps());
        o.put("max_position_embeddings", c.maxPositionEmbeddings());
        o.put("tie_word_embeddings", c.tieWordEmbeddings());
        o.put("attention_bias", c.attentionBias());
        o.put("mlp_bias", c.mlpBias());
        o.put("hidden_act", c.hiddenAct());
        if (c.family() == LlamaConfig.Family.MISTRAL) {
            if (c.slidingWindow() == null) o.putNull("sliding_window");
            else o.put("sliding_window", c.slidingWindow());
        }
        o.put("bos_token_id", c.bosTokenIds().getFirst());
        o.put("eos_token_id", c.eosTokenIds().getFirst());
        if (c.dtype() != null) o.put("dtype", c.dtype());
        ObjectNode rope = o.putObject("rope_parameters");
        rope.put("rope_type", c.rope().type().hfName());
        rope.put("rope_theta", c.rope().theta());
        if (c.rope().type() != RopeParameters.Type.DEFAULT) rope.put("factor", c.rope().factor());
        if (c.rope().type() == RopeParameters.Type.LLAMA3) {
            rope.put("low_freq_factor", c.rope().lowFreqFactor());
            rope.put("high_freq_factor", c.rope().highFreqFactor());
            rope.put("original_max_position_embeddings", c.rope().originalMaxPositionEmbeddings());
        }
        return o.toPrettyString();
    }

    static void write(Path dir, LlamaConfig c, Map<String, float[]> tensors, DType dtype) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), configJson(c));
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String name : tensors.keySet()) shapes.put(name, shapeOf(c, name));
        writeSafetensors(dir.resolve("model.safetensors"), tensors, shapes, dtype);
    }

    static long[] shapeOf(LlamaConfig c, String name) {
        for (LlamaTensor t : LlamaTensor.values()) {
            for (int l = 0; l < c.numHiddenLayers(); l++) if (t.hfName(l).equals(name)) return t.shape(c);
        }
        throw new IllegalArgumentException(name);
    }

    /** A minimal safetensors writer (header JSON, then the tensors back to back, little-endian). */
    static void writeSafetensors(Path file, Map<String, float[]> tensors, Map<String, long[]> shapes, DType dtype)
            throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        long offset = 0;
        for (var e : tensors.entrySet()) {
            long bytes = (long) e.getValue().length * dtype.byteSize();
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", dtype.headerName());
            ArrayNode shape = t.putArray("shape");
            for (long d : shapes.get(e.getKey())) shape.add(d);
            t.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] head = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate((int) (8 + head.length + offset)).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(head.length).put(head);
        for (float[] a : tensors.values()) {
            for (float x : a) {
                if (dtype == DType.F32) buf.putFloat(x);
                else if (dtype == DType.BF16) buf.putShort((short) (Float.floatToRawIntBits(x) >>> 16));
                else throw new IllegalArgumentException(dtype.toString());
            }
        }
        Files.write(file, buf.array());
    }
}
