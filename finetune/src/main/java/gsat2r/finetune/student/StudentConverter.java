package gsat2r.finetune.student;

import java.nio.file.Path;

/**
 * Builds a student model directory from a teacher (the code behind {@code t2r convert}), for recipes
 * that give conversion options instead of a student directory. Found with
 * {@link java.util.ServiceLoader} ({@code META-INF/services/gsat2r.finetune.student.StudentConverter});
 * the trainer takes the first that {@link #supports} the teacher's {@code config.json}
 * {@code model_type}. Must be deterministic: the same teacher and options give the same files.
 */
public interface StudentConverter {

    String name();

    boolean supports(String teacherModelType);

    /** The {@code model_type} of the students it writes ({@code "gsa"}), so that a run can find their backend before converting. */
    String studentModelType();

    /** Writes the complete student (config.json, weights, tokenizer files) into {@code out}, an existing empty directory. */
    void convert(Path teacher, ConversionOptions options, Path out);
}
