package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/**
 * Rotary position embedding, Hugging Face rotate_half convention (rope.cu). Tensors are
 * {@code [nTokens, nHeads, headDim]} with {@code tokenStride} elements between tokens (equal to
 * nHeads * headDim when dense, larger inside a fused qkv buffer); {@code positions[nTokens]} index
 * the fp32 tables {@code cos, sin [maxPositions, headDim/2]} (upload core's {@code Rope.tables}).
 */
public final class Rope {
    private Rope() {}

    public static void forward(Gpu gpu, DeviceBuffer out, DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin, DeviceBuffer positions,
                               int nTokens, int nHeads, int headDim, long tokenStride, int maxPositions) {
        launch(gpu, "rope_fwd", out, x, cos, sin, positions, nTokens, nHeads, headDim, tokenStride, maxPositions);
    }

    /** {@code dx = R^T dout}, the transposed rotation; dx may be dout. */
    public static void backward(Gpu gpu, DeviceBuffer dx, DeviceBuffer dout, DeviceBuffer cos, DeviceBuffer sin, DeviceBuffer positions,
                                int nTokens, int nHeads, int headDim, long tokenStride, int maxPositions) {
        launch(gpu, "rope_bwd", dx, dout, cos, sin, positions, nTokens, nHeads, headDim, tokenStride, maxPositions);
    }

    private static void launch(Gpu gpu, String kernel, DeviceBuffer out, DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin,
                               DeviceBuffer positions, int nTokens, int nHeads, int headDim, long tokenStride, int maxPositions) {
        Checks.positive("nTokens", nTokens);
        Checks.positive("nHeads", nHeads);
        Checks.positive("maxPositions", maxPositions);
        if (headDim < 2 || headDim % 2 != 0) throw new IllegalArgumentException("rope head dim must be even, got " + headDim);
        if (tokenStride < (long) nHeads * headDim) {
            throw new IllegalArgumentException("token stride " + tokenStride + " < nHeads * headDim = " + (long) nHeads * headDim);
        }
        ElementType t = Checks.storage("x", x);
        long extent = (nTokens - 1L) * tokenStride + (long) nHeads * headDim;
        Checks.buffer("x", x, t, extent);
        Checks.buffer("out", out, t, extent);
        long table = (long) maxPositions * (headDim / 2);
        Checks.buffer("cos", cos, ElementType.F32, table);
        Checks.buffer("sin", sin, ElementType.F32, table);
        Checks.buffer("positions", positions, ElementType.I32, nTokens);
        long work = (long) nTokens * nHeads * (headDim / 2);
        gpu.kernel(kernel, t).launch(gpu.stream(), Checks.gridFor(gpu, work, 1), Checks.THREADS, 0,
                out, x, cos, sin, positions, nTokens, nHeads, headDim, tokenStride, maxPositions);
    }
}
