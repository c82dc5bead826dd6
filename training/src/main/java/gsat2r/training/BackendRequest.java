package gsat2r.training;

import java.nio.file.Path;

/**
 * What a {@link BackendFactory} opens: the teacher and student model directories, the device
 * ({@code cpu} or {@code cuda}), the largest micro-batch and the sequence length it will be given (for
 * sizing buffers), whether to recompute activations in the backward instead of keeping them
 * ({@code recompute}), whether the teacher is needed at all (not for a recipe of finetune stages), and
 * which device of its kind to use ({@code deviceIndex}: a data-parallel rank's LOCAL_RANK, so that the
 * ranks on one node take one GPU each; 0 for a single process).
 */
public record BackendRequest(Path teacher, Path student, String device, int microBatch, int sequenceLength,
                             boolean recompute, boolean needsTeacher, int deviceIndex) {

    public BackendRequest {
        if (deviceIndex < 0) throw new IllegalArgumentException("device index " + deviceIndex);
    }

    /** A request for device 0. */
    public BackendRequest(Path teacher, Path student, String device, int microBatch, int sequenceLength, boolean recompute,
                          boolean needsTeacher) {
        this(teacher, student, device, microBatch, sequenceLength, recompute, needsTeacher, 0);
    }
}
