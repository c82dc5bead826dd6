package gsat2r.finetune.toy;

import gsat2r.core.T2rException;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.tokenizer.TestTokenizers;
import gsat2r.finetune.student.ConversionOptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Writes toy model directories: a teacher with the byte-level test tokenizer, and students converted from it. */
public final class ToyModels {
    private ToyModels() {}

    /** The vocabulary of the byte-level test tokenizer (362 pieces, BOS 362, EOS 363). */
    public static final int VOCAB = 364;

    /**
     * A toy teacher in {@code dir}: random weights (seeded) scaled so that its next-token distribution is
     * far from uniform, g_norm gains in [0.5, 1.5], and the byte-level test tokenizer's files.
     */
    public static Path teacher(Path dir, int dim, int layers, long seed) {
        ToyModel m = new ToyModel(VOCAB, dim, layers);
        SplitMix64 rng = new SplitMix64(seed);
        m.fill("model.embeddings.weight", 1.0, rng);
        for (int l = 0; l < layers; l++) {
            m.fill(ToyModel.layer(l, "q_proj.weight"), 1.0 / Math.sqrt(dim), rng);
            m.fill(ToyModel.layer(l, "f_proj.weight"), 1.0 / Math.sqrt(dim), rng);
            ToyModel.View g = m.view(ToyModel.layer(l, "g_norm.weight"));
            for (int i = 0; i < g.size(); i++) m.w[g.offset() + i] = (float) (0.5 + rng.nextDouble());
            m.fill(ToyModel.layer(l, "o_proj.weight"), 1.0 / Math.sqrt(dim), rng);
        }
        m.fill("lm_head.weight", 2.0 / Math.sqrt(dim), rng);
        write(dir, m);
        return dir;
    }

    /**
     * The toy counterpart of the GSA conversion: everything copied from the teacher except the gates,
     * f_proj drawn from N(0, 0.02²) with {@code options.seed()} and g_norm set to ones.
     */
    public static void convert(Path teacherDir, ConversionOptions options, Path out) {
        ToyModel m = ToyModel.load(teacherDir);
        SplitMix64 rng = new SplitMix64(SplitMix64.mix(options.seed()));
        for (int l = 0; l < m.layers; l++) {
            m.fill(ToyModel.layer(l, "f_proj.weight"), 0.02, rng);
            m.fillConstant(ToyModel.layer(l, "g_norm.weight"), 1f);
        }
        write(out, m);
        copyTokenizer(teacherDir, out);
    }

    private static void write(Path dir, ToyModel m) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot create", e);
        }
        m.save(dir);
        copyTokenizer(TestTokenizers.dir(TestTokenizers.BYTE_LEVEL), dir);
    }

    private static void copyTokenizer(Path from, Path to) {
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            try {
                if (!Files.exists(to.resolve(f))) Files.copy(from.resolve(f), to.resolve(f));
            } catch (IOException e) {
                throw new T2rException(to.resolve(f) + ": cannot copy", e);
            }
        }
    }
}
