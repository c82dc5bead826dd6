package gsat2r.cli;

import gsat2r.core.tokenizer.TestTokenizers;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes small model directories for the CLI tests: config.json, safetensors (zeros), tokenizer files. */
final class ModelDirFixture {

    private ModelDirFixture() {}

    static final String LLAMA_CONFIG = """
            {
              "architectures": ["LlamaForCausalLM"],
              "model_type": "llama",
              "hidden_size": 64,
              "intermediate_size": 160,
              "num_hidden_layers": 2,
              "num_attention_heads": 4,
              "num_key_value_heads": 2,
              "vocab_size": 364,
              "max_position_embeddings": 256,
              "rope_theta": 10000.0,
              "rope_scaling": {"rope_type": "llama3", "factor": 8.0},
              "tie_word_embeddings": false,
              "torch_dtype": "bfloat16",
              "bos_token_id": 362,
              "eos_token_id": 363
            }
            """;

    /** A Llama-shaped directory: every tensor of a 2-layer model, bf16 zeros, plus the byte-level tokenizer. */
    static Path llama(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), LLAMA_CONFIG);
        Map<String, long[]> tensors = new LinkedHashMap<>();
        int d = 64, f = 160, v = 364, kv = 2 * 16;
        tensors.put("model.embed_tokens.weight", new long[] {v, d});
        for (int l = 0; l < 2; l++) {
            String p = "model.layers." + l + ".";
            tensors.put(p + "input_layernorm.weight", new long[] {d});
            tensors.put(p + "self_attn.q_proj.weight", new long[] {d, d});
            tensors.put(p + "self_attn.k_proj.weight", new long[] {kv, d});
            tensors.put(p + "self_attn.v_proj.weight", new long[] {kv, d});
            tensors.put(p + "self_attn.o_proj.weight", new long[] {d, d});
            tensors.put(p + "post_attention_layernorm.weight", new long[] {d});
            tensors.put(p + "mlp.gate_proj.weight", new long[] {f, d});
            tensors.put(p + "mlp.up_proj.weight", new long[] {f, d});
            tensors.put(p + "mlp.down_proj.weight", new long[] {d, f});
        }
        tensors.put("model.norm.weight", new long[] {d});
        tensors.put("lm_head.weight", new long[] {v, d});
        writeSafetensors(dir.resolve("model.safetensors"), "BF16", 2, tensors);
        tokenizer(dir);
        return dir;
    }

    /** Expected parameter count of {@link #llama}. */
    static long llamaParameters() {
        long d = 64, f = 160, v = 364, kv = 32;
        long layer = d + d * d + kv * d * 2 + d * d + d + 3 * f * d;
        return v * d + 2 * layer + d + v * d;
    }

    static void tokenizer(Path dir) throws IOException {
        Path src = TestTokenizers.dir(TestTokenizers.BYTE_LEVEL);
        Files.copy(src.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.copy(src.resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
    }

    /** A safetensors file with zero-filled tensors, written by hand after the format's description. */
    static void writeSafetensors(Path file, String dtype, int elementBytes, Map<String, long[]> tensors) throws IOException {
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (Map.Entry<String, long[]> e : tensors.entrySet()) {
            long numel = 1;
            StringBuilder shape = new StringBuilder();
            for (long s : e.getValue()) {
                numel *= s;
                shape.append(shape.isEmpty() ? "" : ",").append(s);
            }
            long bytes = numel * elementBytes;
            if (header.length() > 1) header.append(',');
            header.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(dtype).append("\",\"shape\":[")
                    .append(shape).append("],\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        header.append('}');
        while ((header.length() + 8) % 8 != 0) header.append(' ');
        byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + h.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        Files.write(file, buf.array());
    }
}
