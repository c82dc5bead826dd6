package gsat2r.finetune.backend;

import java.nio.file.Path;

/**
 * What a {@link BackendFactory} opens: the teacher and student model directories, the device
 * ({@code cpu} or {@code cuda}), the largest micro-batch and the sequence length it will be given (for
 * sizing buffers), whether to recompute activations in the backward instead of keeping them
 * ({@code recompute}), and whether the teacher is needed at all (not for a recipe of finetune stages).
 */
public record BackendRequest(Path teacher, Path student, String device, int microBatch, int sequenceLength,
                             boolean recompute, boolean needsTeacher) {}
