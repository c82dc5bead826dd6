package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/**
 * Softmax cross-entropy fused with its gradient (losses.cu), one pass of reading per row for the
 * loss and one more for the gradient; the probabilities never reach memory.
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    /**
     * {@code loss[r] = logsumexp(logits[r]) - logits[r, targets[r]]} (fp32, per row) and, when
     * {@code dlogits} is not null, {@code dlogits = gradScale * (softmax - onehot)} (may be the
     * logits buffer itself). A negative target ignores the row (loss 0, gradient 0); for the mean
     * loss pass {@code gradScale = 1 / (number of counted rows)}.
     */
    public static void forwardBackward(Gpu gpu, DeviceBuffer loss, DeviceBuffer dlogits, DeviceBuffer logits, DeviceBuffer targets,
                                       int rows, int vocab, float gradScale) {
        Checks.positive("rows", rows);
        Checks.positive("vocab", vocab);
        ElementType t = Checks.storage("logits", logits);
        Checks.buffer("logits", logits, t, (long) rows * vocab);
        if (dlogits != null) Checks.buffer("dlogits", dlogits, t, (long) rows * vocab);
        Checks.buffer("targets", targets, ElementType.I32, rows);
        Checks.buffer("loss", loss, ElementType.F32, rows);
        gpu.kernel("cross_entropy", t).launch(gpu.stream(), rows, threadsForRow(vocab), 0,
                loss, dlogits, logits, targets, rows, vocab, gradScale);
    }

    /** Threads per row of {@code vocab} logits: enough 16-byte packs per thread to hide latency, few idle threads. */
    static int threadsForRow(int vocab) {
        if (vocab <= 4096) return 128;
        if (vocab <= 32768) return 256;
        if (vocab <= 131072) return 512;
        return 1024;
    }
}
