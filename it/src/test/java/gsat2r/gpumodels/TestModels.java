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

    /**
     * A GSA student of {@code teacher} in {@code out} with short convolutions of {@code taps} taps, their kernels
     * drawn N(0, 0.5²) (seed 9) instead of the identity, so that every tap counts.
     */
    static Path convStudent(Path teacher, Path out, int slots, int taps) {
        if (Files.isDirectory(out)) return out;
        Path made = out.resolveSibling(out.getFileName() + "-identity");
        Converter.convert(teacher, made, new ConvertOptions(slots, 8, GateInit.KEY_POOL, 7, DType.F32, List.of()).withShortConv(taps), false);
        gsat2r.core.model.gsa.GsaModel m = gsat2r.core.model.gsa.GsaModel.load(made);
        java.util.Random rnd = new java.util.Random(9);
        for (gsat2r.core.model.gsa.ParameterView v : m.layout().views()) {
            if (v.name().endsWith("_conv1d.weight")) {
                for (int i = v.arrayOffset(); i < v.end(); i++) m.parameters()[i] = (float) (0.5 * rnd.nextGaussian());
            }
        }
        m.save(out, DType.F32, false);
        gsat2r.core.tokenizer.TokenizerFiles.copy(out, made);
        return out;
    }

    /**
     * A GSA student of {@code teacher} in {@code out} with {@code kvHeads} kv heads in its GSA layers (copies of the
     * teacher's, so one query head per kv head for the demo teacher's 4 at 4), key-pool gates, short convolutions of 4
     * random taps, seed 7, layer 1 kept as attention with the teacher's kv heads; then every GSA layer's k, v, gate and
     * convolution weights moved by N(0, 0.02²) noise (seed 11), as training parts the copies, so that a query head reading
     * its twin's copy shows.
     */
    static Path kvHeadsStudent(Path teacher, Path out, int slots, int kvHeads) {
        if (Files.isDirectory(out)) return out;
        Path made = out.resolveSibling(out.getFileName() + "-copies");
        Converter.convert(teacher, made, new ConvertOptions(slots, 8, GateInit.KEY_POOL, 7, DType.F32, List.of(1)).withKvHeads(kvHeads)
                .withShortConv(4, gsat2r.converter.ShortConvInit.RANDOM), false);
        gsat2r.core.model.gsa.GsaModel m = gsat2r.core.model.gsa.GsaModel.load(made);
        java.util.Random rnd = new java.util.Random(11);
        for (gsat2r.core.model.gsa.ParameterView v : m.layout().views()) {
            boolean copied = switch (v.kind()) {
                case K_PROJ, V_PROJ, F_PROJ, K_CONV, V_CONV -> m.config().isGsaLayer(v.layer());
                default -> false;
            };
            if (copied) {
                for (int i = v.arrayOffset(); i < v.end(); i++) m.parameters()[i] += (float) (0.02 * rnd.nextGaussian());
            }
        }
        m.save(out, DType.F32, false);
        gsat2r.core.tokenizer.TokenizerFiles.copy(out, made);
        return out;
    }

    /** A GSA student of {@code teacher} in {@code out}: {@code slots} per head, seed 7, layers {@code keep} kept as attention. */
    static Path student(Path teacher, Path out, int slots, GateInit init, List<Integer> keep) {
        if (!Files.isDirectory(out)) Converter.convert(teacher, out, new ConvertOptions(slots, 8, init, 7, DType.F32, keep), false);
        return out;
    }
}
