package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** The MLP gate {@code out = silu(gate) * up}, elementwise over {@code n} (swiglu.cu). */
public final class SwiGlu {
    private SwiGlu() {}

    public static void forward(Gpu gpu, DeviceBuffer out, DeviceBuffer gate, DeviceBuffer up, long n) {
        Checks.positive("n", n);
        ElementType t = Checks.storage("gate", gate);
        Checks.buffer("gate", gate, t, n);
        Checks.buffer("up", up, t, n);
        Checks.buffer("out", out, t, n);
        gpu.kernel("swiglu_fwd", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 16 / t.bytes()), Checks.THREADS, 0, out, gate, up, n);
    }

    /** {@code dgate = dout * up * silu'(gate)}, {@code dup = dout * silu(gate)} (overwritten; may alias gate and up). */
    public static void backward(Gpu gpu, DeviceBuffer dgate, DeviceBuffer dup, DeviceBuffer dout, DeviceBuffer gate, DeviceBuffer up, long n) {
        Checks.positive("n", n);
        ElementType t = Checks.storage("gate", gate);
        Checks.buffer("gate", gate, t, n);
        Checks.buffer("up", up, t, n);
        Checks.buffer("dout", dout, t, n);
        Checks.buffer("dgate", dgate, t, n);
        Checks.buffer("dup", dup, t, n);
        gpu.kernel("swiglu_bwd", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 16 / t.bytes()), Checks.THREADS, 0,
                dgate, dup, dout, gate, up, n);
    }
}
