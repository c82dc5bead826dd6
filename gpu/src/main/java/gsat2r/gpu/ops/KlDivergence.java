package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** The distillation loss KL(teacher || student) at a temperature, fused with its gradient (losses.cu). */
public final class KlDivergence {
    private KlDivergence() {}

    /**
     * With {@code p = softmax(teacher / T)} and {@code q = softmax(student / T)}:
     * {@code loss[r] = sum_i p_i (log p_i - log q_i)} (fp32, per row) and, when {@code dstudent}
     * is not null, {@code dstudent = gradScale / T * (q - p)} (may be the student buffer). Hinton's
     * scaling is {@code gradScale = T^2 / rows}. {@code mask} (I32 per row, may be null) skips rows
     * where it is 0.
     */
    public static void forwardBackward(Gpu gpu, DeviceBuffer loss, DeviceBuffer dstudent, DeviceBuffer student, DeviceBuffer teacher,
                                       DeviceBuffer mask, int rows, int vocab, float temperature, float gradScale) {
        Checks.positive("rows", rows);
        Checks.positive("vocab", vocab);
        if (!(temperature > 0)) throw new IllegalArgumentException("temperature must be positive, got " + temperature);
        ElementType t = Checks.storage("student", student);
        Checks.buffer("student", student, t, (long) rows * vocab);
        Checks.buffer("teacher", teacher, t, (long) rows * vocab);
        if (dstudent != null) Checks.buffer("dstudent", dstudent, t, (long) rows * vocab);
        if (mask != null) Checks.buffer("mask", mask, ElementType.I32, rows);
        Checks.buffer("loss", loss, ElementType.F32, rows);
        gpu.kernel("kl_div", t).launch(gpu.stream(), rows, CrossEntropy.threadsForRow(vocab), 0,
                loss, dstudent, student, teacher, mask, rows, vocab, 1.0f / temperature, gradScale);
    }
}
