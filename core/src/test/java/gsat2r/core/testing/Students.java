package gsat2r.core.testing;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.safetensors.DType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * Small random GSA students written as model directories (fla layout, f32, with the tokenizer of the
 * {@code hf-tiny-mistral} fixture, vocabulary 384), for tests of decoding, state files and exports.
 * Weights have std 1/sqrt(fan_in), norm weights lie in [0.5, 1.5], so every parameter matters.
 */
public final class Students {
    private Students() {}

    /** Vocabulary of the students (that of the fixture tokenizer). */
    public static final int VOCAB = 384;

    /**
     * A hybrid student: layers 0 and 2 GSA (4 heads, 2 kv heads, 16 slots), layer 1 sliding-window
     * softmax attention (window 24, RoPE); hidden 64, untied. With {@code window} null, layer 1 attends
     * to every position.
     */
    public static GsaConfig hybridConfig(Integer window) {
        var attn = new GsaConfig.AttentionSpec(List.of(1), 4, 2, false, window, 10000.0, null, null, null);
        return config(3, List.of(attn), false);
    }

    /** A GSA-only student: 2 GSA layers, tied embeddings. */
    public static GsaConfig gsaConfig() {
        return config(2, List.of(), true);
    }

    private static GsaConfig config(int layers, List<GsaConfig.AttentionSpec> attn, boolean tied) {
        return new GsaConfig(64, layers, 4, 2, 16, 8, 1, 1, 128, 4, 1e-5, VOCAB, tied, List.of(1), List.of(2), 2048,
                attn, 0, "float32", null);
    }

    public static GsaModel random(GsaConfig c, long seed) {
        GsaModel m = new GsaModel(c, new float[Math.toIntExact(new gsat2r.core.model.gsa.GsaLayout(c).size())]);
        float[] p = m.parameters();
        Random rnd = new Random(seed);
        for (ParameterView v : m.layout().views()) {
            long[] shape = v.shape();
            boolean norm = shape.length == 1;
            double std = v.kind() == ParameterView.Kind.EMBEDDINGS ? 1.0 : shape.length == 2 ? 1 / Math.sqrt(shape[1]) : 0.3;
            for (int i = v.arrayOffset(); i < v.end(); i++) {
                p[i] = norm ? (float) (0.5 + rnd.nextDouble()) : (float) (rnd.nextGaussian() * std);
            }
        }
        return m;
    }

    /** Writes a random student of config {@code c} into {@code dir} (f32, with tokenizer.json); returns dir. */
    public static Path write(GsaConfig c, long seed, Path dir) {
        random(c, seed).save(dir, DType.F32, false);
        Path tokenizerSource = Fixtures.copy("hf-tiny-mistral", dir.resolveSibling(dir.getFileName() + "-tokenizer"));
        try {
            Files.copy(tokenizerSource.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
    }

    /** Token ids 3..VOCAB-1 (no BOS/EOS), deterministic. */
    public static int[] ids(int n, long seed) {
        Random rnd = new Random(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = 3 + rnd.nextInt(VOCAB - 3);
        return ids;
    }
}
