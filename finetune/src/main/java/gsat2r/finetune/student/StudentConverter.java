package gsat2r.finetune.student;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.ModelDirectory;

import java.nio.file.Path;

/**
 * Builds a student model directory from a teacher (the code behind {@code t2r convert}), for recipes
 * that give conversion options instead of a student directory. Found with
 * {@link java.util.ServiceLoader} ({@code META-INF/services/gsat2r.finetune.student.StudentConverter});
 * the trainer takes the first that {@link #supports} the teacher's {@code config.json}
 * kind ({@link ModelDirectory}). Must be deterministic: the same teacher and options give the same files.
 */
public interface StudentConverter {

    String name();

    boolean supports(ModelDirectory teacher);

    /**
     * The config of the student it would write, without writing it (a run plans its memory before any work),
     * or null when the students it writes are not GSA students.
     */
    default GsaConfig studentConfig(ModelDirectory teacher, ConversionOptions options) {
        return null;
    }

    /** Writes the complete student (config.json, weights, tokenizer files) into {@code out}, an existing empty directory. */
    void convert(Path teacher, ConversionOptions options, Path out);
}
