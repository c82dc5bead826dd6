package gsat2r.gpumodels;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.GateInit;
import gsat2r.core.safetensors.DType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Tiny models the GPU kernels can run (head dims 64): the project's demo teacher {@code models/kjv-llama}
 * (Llama, 4 layers, hidden 256, 4 heads / 2 kv heads of 64, tied, bf16), a Mistral variant of it (the
 * same weights with a sliding window), and GSA students converted from them by the real converter. (The
 * transformers fixtures of core have head dims 16 and 32, below what the tile kernels take.)
 */
final class TestModels {
    private TestModels() {}

    /** {@code models/kjv-llama} of the checkout, looked for from the working directory upwards. */
    static Path kjvTeacher() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            Path m = p.resolve("models").resolve("kjv-llama");
            if (Files.isRegularFile(m.resolve("config.json"))) return m;
        }
        throw new IllegalStateException("models/kjv-llama not found above " + dir);
    }

    /** kjv-llama as a MistralForCausalLM with a sliding window of {@code window} tokens, copied into {@code dir}. */
    static Path mistralTeacher(Path dir, int window) {
        try {
            if (Files.isDirectory(dir)) return dir;
            Files.createDirectories(dir);
            Path src = kjvTeacher();
            for (String f : List.of("model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json")) {
                Files.copy(src.resolve(f), dir.resolve(f));
            }
            ObjectMapper json = new ObjectMapper();
            ObjectNode config = (ObjectNode) json.readTree(src.resolve("config.json").toFile());
            config.putArray("architectures").add("MistralForCausalLM");
            config.put("model_type", "mistral");
            config.put("sliding_window", window);
            config.remove("attention_bias");
            config.remove("mlp_bias");
            config.remove("pretraining_tp");
            Files.writeString(dir.resolve("config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(config));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A GSA student of {@code teacher} in {@code out}: {@code slots} per head, seed 7, layers {@code keep} kept as attention. */
    static Path student(Path teacher, Path out, int slots, GateInit init, List<Integer> keep) {
        if (!Files.isDirectory(out)) Converter.convert(teacher, out, new ConvertOptions(slots, 8, init, 7, DType.F32, keep), false);
        return out;
    }
}
