package gsat2r.cputrain;

import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.GateInit;
import gsat2r.core.testing.Fixtures;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Tiny teachers (core's transformers-made fixtures) and GSA students converted from them by the real
 * converter, for the CPU backend's tests.
 */
final class TinyStudents {
    private TinyStudents() {}

    /** {@code fixtures/hf-tiny-llama} (bf16, GQA 4/2, tied, llama3 RoPE) copied into {@code dir}. */
    static Path llamaTeacher(Path dir) {
        return Files.isDirectory(dir) ? dir : Fixtures.copy("hf-tiny-llama", dir);
    }

    /** {@code fixtures/hf-tiny-mistral} (fp32, 1 kv head, head_dim 32 ≠ 96/4, sliding window 16, untied, tokenizer) copied into {@code dir}. */
    static Path mistralTeacher(Path dir) {
        return Files.isDirectory(dir) ? dir : Fixtures.copy("hf-tiny-mistral", dir);
    }

    /** A student with short convolutions of {@code taps} on every GSA layer, their kernels at random. */
    static Path convStudent(Path teacher, Path out, int slots, int taps) {
        Converter.convert(teacher, out, new ConvertOptions(slots, 8, GateInit.RANDOM, 7, null, List.of(), null, taps,
                gsat2r.converter.ShortConvInit.RANDOM), false);
        return out;
    }

    /**
     * A student whose GSA layers have {@code kvHeads} kv heads, copies of the teacher's (random gates, short convolutions
     * of 4 random taps, so that the copies' gates and kernels are copies too), layer 1 kept as attention.
     */
    static Path kvHeadsStudent(Path teacher, Path out, int slots, int kvHeads) {
        Converter.convert(teacher, out, new ConvertOptions(slots, 8, GateInit.RANDOM, 7, null, List.of(1), null, 4,
                gsat2r.converter.ShortConvInit.RANDOM, kvHeads), false);
        return out;
    }

    /** Converts {@code teacher} into {@code out}: {@code slots} per head, the given gate init, seed 7, layers {@code keep} kept as attention. */
    static Path convert(Path teacher, Path out, int slots, GateInit init, List<Integer> keep) {
        Converter.convert(teacher, out, new ConvertOptions(slots, 8, init, 7, null, keep), false);
        return out;
    }
}
