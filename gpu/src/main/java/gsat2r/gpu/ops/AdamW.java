package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** One AdamW step on fp32 master weights (optim.cu), with the same arithmetic as torch.optim.AdamW. */
public final class AdamW {
    private AdamW() {}

    public record Hyper(float lr, float beta1, float beta2, float eps, float weightDecay) {}

    /**
     * Updates {@code param}, {@code m}, {@code v} (fp32, {@code n} each) from {@code grad} (fp32)
     * at 1-based step {@code step}; writes the bf16 copy when {@code paramBf16} is not null. When
     * {@code gradScale} is not null (one fp32 on the device, e.g. the clip factor)
     * the gradient is multiplied by it first, without a trip to the host.
     */
    public static void step(Gpu gpu, Hyper h, long step, DeviceBuffer param, DeviceBuffer paramBf16, DeviceBuffer grad,
                            DeviceBuffer m, DeviceBuffer v, DeviceBuffer gradScale) {
        if (step < 1) throw new IllegalArgumentException("AdamW step counts from 1, got " + step);
        long n = param.length();
        Checks.buffer("param", param, ElementType.F32, n);
        Checks.buffer("grad", grad, ElementType.F32, n);
        Checks.buffer("m", m, ElementType.F32, n);
        Checks.buffer("v", v, ElementType.F32, n);
        if (paramBf16 != null) Checks.buffer("paramBf16", paramBf16, ElementType.BF16, n);
        if (gradScale != null) Checks.buffer("gradScale", gradScale, ElementType.F32, 1);
        float bc1 = (float) (1.0 - Math.pow(h.beta1(), step));
        float bc2 = (float) (1.0 - Math.pow(h.beta2(), step));
        gpu.kernel("adamw_f32").launch(gpu.stream(), Checks.gridFor(gpu, n, 1), Checks.THREADS, 0,
                param, paramBf16, grad, m, v, n, h.lr(), h.beta1(), h.beta2(), bc1, bc2, h.eps(), h.weightDecay(), gradScale);
    }
}
