package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import java.util.List;

/**
 * Global gradient norm and clipping in two passes (optim.cu): per-tensor block partial sums of
 * squares, then one block that adds them in a fixed order (the result is the same bits every run
 * on a given device) and writes the norm and torch's clip factor {@code min(1, max/(norm+1e-6))}.
 */
public final class GradNorm {
    private GradNorm() {}

    static int blocksFor(Gpu gpu, long n) {
        return Math.max(1, (int) Math.min((n + 8L * Checks.THREADS - 1) / (8L * Checks.THREADS), 2L * gpu.info().multiprocessors()));
    }

    /**
     * Writes {@code out[0] = sqrt(sum of squares over all grads)} and {@code out[1] = clip factor}
     * ({@code maxNorm <= 0}: factor 1). Nothing is read back: pass {@code out.view(1, 1)} to
     * {@link AdamW#step} or {@link #scale}, and read {@code out} when the norm is wanted on the host.
     */
    public static void compute(Gpu gpu, List<DeviceBuffer> grads, float maxNorm, DeviceBuffer out) {
        if (grads.isEmpty()) throw new IllegalArgumentException("no gradients");
        Checks.buffer("out", out, ElementType.F32, 2);
        int total = 0;
        for (DeviceBuffer g : grads) {
            Checks.buffer("gradient", g, ElementType.F32, 1);
            total += blocksFor(gpu, g.length());
        }
        try (DeviceBuffer partials = gpu.f32(total)) {
            int at = 0;
            for (DeviceBuffer g : grads) {
                int blocks = blocksFor(gpu, g.length());
                gpu.kernel("sumsq_partials_f32").launch(gpu.stream(), blocks, Checks.THREADS, 0,
                        partials.view(at, blocks), g, g.length());
                at += blocks;
            }
            gpu.kernel("norm_finalize_f32").launch(gpu.stream(), 1, 1024, 0, out, partials, total, maxNorm);
        }
    }

    /** {@code x *= factor[0]} for each buffer (the second pass when the optimizer does not fold the factor in). */
    public static void scale(Gpu gpu, List<DeviceBuffer> grads, DeviceBuffer factor) {
        Checks.buffer("factor", factor, ElementType.F32, 1);
        for (DeviceBuffer g : grads) {
            Checks.buffer("gradient", g, ElementType.F32, 1);
            gpu.kernel("scale_f32").launch(gpu.stream(), Checks.gridFor(gpu, g.length(), 1), Checks.THREADS, 0, g, g.length(), factor);
        }
    }
}
