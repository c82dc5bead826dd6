package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** Top-1 agreement of two models' logits (train.cu), for distillation metrics. */
public final class Agreement {
    private Agreement() {}

    /**
     * {@code agree[r] = 1} when the first largest logit of {@code student} row r is at the index of the
     * first largest of {@code teacher} row r, else 0 (fp32, one per row).
     */
    public static void top1(Gpu gpu, DeviceBuffer agree, DeviceBuffer student, DeviceBuffer teacher, int rows, int vocab) {
        Checks.positive("rows", rows);
        Checks.positive("vocab", vocab);
        ElementType t = Checks.storage("student", student);
        Checks.buffer("student", student, t, (long) rows * vocab);
        Checks.buffer("teacher", teacher, t, (long) rows * vocab);
        Checks.buffer("agree", agree, ElementType.F32, rows);
        gpu.kernel("argmax_agree", t).launch(gpu.stream(), rows, CrossEntropy.threadsForRow(vocab), 0, agree, student, teacher, rows, vocab);
    }
}
