package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaFunction;
import gsat2r.gpu.cuda.Dim3;

import java.util.List;

/**
 * The linear layers of a decode step at small batch (decode_linear.cu): {@code y = x Wᵀ} for at most
 * {@link #MAX_BATCH} rows with bf16 weights {@code W [N, K]} streamed once through the tensor cores, and
 * the elementwise pieces around each projection of a block fused in:
 * <ul>
 *   <li>{@link #normProject}: {@code out = RMSNorm(x)·w Wᵀ} in fp32, over up to four weight matrices stacked by
 *       rows (q | k | v | f of a layer: one pass over the layer's input projections);</li>
 *   <li>{@link #gateProjectAdd}: {@code h += RMSNorm(silu(o))·w Woᵀ} (the GSA layer's output gate and projection,
 *       onto the residual);</li>
 *   <li>{@link #projectAdd}: {@code h += x Wᵀ};</li>
 *   <li>{@link #normSwiGlu}: {@code act = silu(n W_gateᵀ) ⊙ (n W_upᵀ)} with {@code n = RMSNorm(h)·w}.</li>
 * </ul>
 * Every buffer is bf16 except {@code out} (fp32); K is a multiple of 32; buffers start on 16 bytes. A row's
 * results do not depend on the other rows or on B. The rounding steps are those of the op-by-op path (the norm's
 * output, each projection's output and the residual sum rounded to bf16), so the two differ only in the order of
 * the fp32 sums.
 */
public final class DecodeLinear {
    private DecodeLinear() {}

    /** Rows one launch takes (two n-tiles of 8). */
    public static final int MAX_BATCH = 16;
    private static final int THREADS = 256, ROWS_PER_CTA = 16;
    /** Dynamic shared memory of every variant: 8 warps' rings of 8 KiB (decode_linear.cu's SHARED_BYTES). */
    static final int SHARED_BYTES = 8 * 8 * 1024;

    /** {@code out[b, 0..ΣN) = (RMSNorm(x[b])·normWeight) [W0; W1; ...]ᵀ}, fp32, rows {@code ldOut} apart. */
    public static void normProject(Gpu gpu, DeviceBuffer out, int ldOut, DeviceBuffer x, DeviceBuffer normWeight, float eps,
                                   List<DeviceBuffer> weights, int batch, int k) {
        Checks.buffer("out", out, ElementType.F32, (long) (batch - 1) * ldOut + rows(weights, k));
        run(gpu, "rms_store", out, ldOut, x, normWeight, eps, weights, batch, k, rows(weights, k));
    }

    /** {@code h[b] += bf16((RMSNorm(silu(o[b]))·gateWeight) Woᵀ)}, h {@code [B, N]}. */
    public static void gateProjectAdd(Gpu gpu, DeviceBuffer h, DeviceBuffer o, DeviceBuffer gateWeight, float eps, DeviceBuffer wo,
                                      int batch, int k) {
        int n = rows(List.of(wo), k);
        Checks.buffer("h", h, ElementType.BF16, (long) batch * n);
        run(gpu, "gate_add", h, n, o, gateWeight, eps, List.of(wo), batch, k, n);
    }

    /** {@code h[b] += bf16(x[b] Wᵀ)}, h {@code [B, N]}. */
    public static void projectAdd(Gpu gpu, DeviceBuffer h, DeviceBuffer x, DeviceBuffer w, int batch, int k) {
        int n = rows(List.of(w), k);
        Checks.buffer("h", h, ElementType.BF16, (long) batch * n);
        run(gpu, "plain_add", h, n, x, null, 0f, List.of(w), batch, k, n);
    }

    /** {@code act[b] = bf16(silu(bf16(n W_gateᵀ)) · bf16(n W_upᵀ))}, {@code n = RMSNorm(h[b])·normWeight}, act {@code [B, N]}. */
    public static void normSwiGlu(Gpu gpu, DeviceBuffer act, DeviceBuffer h, DeviceBuffer normWeight, float eps, DeviceBuffer gate,
                                  DeviceBuffer up, int batch, int k) {
        int n = rows(List.of(gate), k);
        if (rows(List.of(up), k) != n) throw new IllegalArgumentException("gate and up hold " + gate.length() + " and " + up.length() + " weights");
        Checks.buffer("act", act, ElementType.BF16, (long) batch * n);
        run(gpu, "rms_swiglu", act, n, h, normWeight, eps, List.of(gate, up), batch, k, n);
    }

    /** CTAs of a launch over N output rows (one per 16). */
    public static int ctas(int n) {
        return Math.ceilDiv(n, ROWS_PER_CTA);
    }

    private static int rows(List<DeviceBuffer> weights, int k) {
        long n = 0;
        for (DeviceBuffer w : weights) {
            if (w.length() % k != 0) throw new IllegalArgumentException("a weight of " + w.length() + " elements is not rows of " + k);
            n += w.length() / k;
        }
        return Math.toIntExact(n);
    }

    private static void run(Gpu gpu, String variant, DeviceBuffer out, int ldOut, DeviceBuffer x, DeviceBuffer normWeight, float eps,
                            List<DeviceBuffer> weights, int batch, int k, int n) {
        if (batch < 1 || batch > MAX_BATCH) throw new IllegalArgumentException("decode linear takes 1.." + MAX_BATCH + " rows, got " + batch);
        if (k < 32 || k % 32 != 0) throw new IllegalArgumentException("decode linear needs K a multiple of 32, got " + k);
        if (weights.isEmpty() || weights.size() > 4) throw new IllegalArgumentException("1 to 4 weight matrices, got " + weights.size());
        Checks.buffer("x", x, ElementType.BF16, (long) batch * k);
        Alignment.require16("x", x);
        if (normWeight != null) {
            Checks.buffer("norm weight", normWeight, ElementType.BF16, k);
            Alignment.require16("norm weight", normWeight);
        }
        Object[] w = new Object[4];
        int[] ends = new int[4];
        int end = 0;
        for (int i = 0; i < 4; i++) {
            DeviceBuffer wi = i < weights.size() ? weights.get(i) : null;
            if (wi != null) {
                Checks.buffer("weight " + i, wi, ElementType.BF16, wi.length());
                Alignment.require16("weight " + i, wi);
                if (!variant.equals("rms_swiglu")) end += (int) (wi.length() / k);
            }
            w[i] = wi;
            ends[i] = variant.equals("rms_swiglu") ? n : end;
        }
        String name = "decode_linear_" + variant + "_b" + (batch <= 8 ? 8 : 16);
        CudaFunction f = gpu.kernel(name);
        f.setPreferredSharedMemoryCarveout(100);   // several CTAs of 64 KiB to an SM (three on an H100 or H200)
        Launches.decode(gpu, f, Dim3.of(ctas(n)), Dim3.of(THREADS), SHARED_BYTES, out, ldOut, x, normWeight, eps, w[0], w[1], w[2], w[3],
                ends[0], ends[1], ends[2], ends[3], batch, k);
    }
}
