package gsat2r.gpumodels;

import gsat2r.core.cpu.Rope;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;

/**
 * RoPE's cos/sin tables {@code [positions, headDim/2]} on the device for one set of inverse frequencies,
 * computed on the host exactly as {@link Rope#tables} computes them for the CPU models (fp32 angle
 * {@code pos · inv_freq}, cos and sin in double, rounded), and grown on demand.
 */
final class DeviceRope implements AutoCloseable {
    private final Gpu gpu;
    private final float[] invFreq;
    private DeviceBuffer cos, sin;
    private int positions;

    DeviceRope(Gpu gpu, float[] invFreq) {
        this.gpu = gpu;
        this.invFreq = invFreq.clone();
    }

    /** Makes the tables cover positions {@code [0, n)} (at least; they grow to the next power of two). */
    void ensure(int n) {
        if (n <= positions) return;
        int size = Math.max(64, Integer.highestOneBit(Math.max(1, n - 1)) << 1);
        int half = invFreq.length;
        float[] c = new float[size * half], s = new float[size * half];
        Rope.tables(invFreq, 0, size, c, s);
        close();
        cos = gpu.upload(c, gsat2r.gpu.ElementType.F32);
        sin = gpu.upload(s, gsat2r.gpu.ElementType.F32);
        positions = size;
    }

    DeviceBuffer cos() {
        return cos;
    }

    DeviceBuffer sin() {
        return sin;
    }

    /** Rows of the tables. */
    int positions() {
        return positions;
    }

    @Override
    public void close() {
        if (cos != null) cos.close();
        if (sin != null) sin.close();
        cos = sin = null;
        positions = 0;
    }
}
