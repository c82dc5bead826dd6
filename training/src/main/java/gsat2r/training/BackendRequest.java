package gsat2r.training;

import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.training.distributed.ProcessGroup;

/**
 * What a {@link Device} opens a {@link TrainingBackend} for: the teacher (null when no objective of the run
 * needs it, e.g. a recipe of finetune stages) and the student, the precision, the largest micro-batch and
 * the sequence length it will be given (for planning memory), whether to recompute activations in the
 * backward instead of keeping them, and the process group this backend is a rank of: a group of one for
 * a single process (the backend then keeps its optimizer state whole), of N for data parallelism (the
 * gradients are summed across ranks and the optimizer state sharded). {@code deviceIndex} picks the
 * device of this rank (its LOCAL_RANK).
 */
public record BackendRequest(ModelDirectory teacher, ModelDirectory student, Precision precision, int microBatch,
                             int sequenceLength, boolean recompute, ProcessGroup group, DataParallelOptions parallel,
                             int deviceIndex) {

    public BackendRequest {
        if (student == null) throw new IllegalArgumentException("no student");
        if (group == null) throw new IllegalArgumentException("no process group (a single process is a group of one)");
        if (deviceIndex < 0) throw new IllegalArgumentException("device index " + deviceIndex);
        if (parallel == null) parallel = DataParallelOptions.defaults();
    }

    /** A single process on device 0. */
    public static BackendRequest single(ModelDirectory teacher, ModelDirectory student, Precision precision, int microBatch,
                                        int sequenceLength, boolean recompute) {
        return new BackendRequest(teacher, student, precision, microBatch, sequenceLength, recompute,
                ProcessGroup.single(), DataParallelOptions.defaults(), 0);
    }

    public boolean needsTeacher() {
        return teacher != null;
    }

    /** A teacher and a student must agree on vocabulary, hidden size and depth; one line naming both otherwise. */
    public void requireMatchingPair() {
        if (teacher == null) return;
        var t = teacher.teacherConfig();
        var s = student.studentConfig();
        String problem = null;
        if (t.vocabSize() != s.vocabSize()) problem = "vocabulary " + s.vocabSize() + " vs the teacher's " + t.vocabSize();
        else if (t.hiddenSize() != s.hiddenSize()) problem = "hidden size " + s.hiddenSize() + " vs the teacher's " + t.hiddenSize();
        else if (t.numHiddenLayers() != s.numHiddenLayers()) problem = s.numHiddenLayers() + " layers vs the teacher's " + t.numHiddenLayers();
        if (problem != null) {
            throw new gsat2r.core.T2rException(student.configFile() + ": this student does not fit the teacher " + teacher.path()
                    + " (" + problem + ")");
        }
    }

    /** Whether this backend is one rank of several. */
    public boolean dataParallel() {
        return group.worldSize() > 1;
    }
}
