package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaFunction;
import gsat2r.gpu.cuda.Dim3;

/**
 * Causal softmax attention with grouped kv heads and an optional sliding window, flash-style
 * (attention.cu): the GPU counterpart of {@code gsat2r.core.cpu.Attention}, batched. Query i sees
 * keys j with {@code 0 ≤ i − j < window} (every {@code j ≤ i} when window is 0); query head h reads
 * kv head {@code h / (heads / kvHeads)}.
 *
 * <p>Layouts (row-major, batch leading): {@code q, o, dq [B,T,H,D]}, {@code k, v, dk, dv [B,T,Hkv,D]},
 * {@code lse [B,T,H]} fp32. D is 64 or 128; q, k, v, o and the gradients share one storage type
 * (F32 or BF16), 16-byte aligned. Arithmetic is fp32 (tensor cores with bf16 operands, exact fp32
 * products in fp32 storage). The forward pass keeps only the log-sum-exp of each query's scaled
 * scores; the backward pass recomputes the probabilities from it. Gradients are overwritten, and
 * bitwise reproducible (no atomics).
 */
public final class Attention {
    private Attention() {}

    /** Queries (and keys) a CTA of the tile kernels takes: {@link #forwardAfter}'s past positions come in multiples of it. */
    public static final int BLOCK = 64;
    private static final int THREADS = 128;

    /**
     * The sizes of one attention call.
     *
     * @param window sliding window (keys 0 ≤ i − j < window), 0 for full causal attention
     * @param scale  multiplies q·k (usually {@code headDim^-0.5})
     */
    public record Shape(int batch, int seqLen, int heads, int kvHeads, int headDim, int window, float scale) {
        public Shape {
            if (batch < 1 || seqLen < 1 || heads < 1 || kvHeads < 1) {
                throw new IllegalArgumentException("attention sizes must be positive: " + describe(batch, seqLen, heads, kvHeads, headDim));
            }
            if (heads % kvHeads != 0) {
                throw new IllegalArgumentException("attention: " + heads + " query heads are not a multiple of " + kvHeads + " kv heads");
            }
            if (headDim != 64 && headDim != 128) {
                throw new IllegalArgumentException("attention head dim must be 64 or 128, got " + headDim);
            }
            if (window < 0) throw new IllegalArgumentException("attention window must be >= 0, got " + window);
            if (!Float.isFinite(scale)) throw new IllegalArgumentException("attention scale must be finite, got " + scale);
        }

        public long qSize() {
            return (long) batch * seqLen * heads * headDim;
        }

        public long kvSize() {
            return (long) batch * seqLen * kvHeads * headDim;
        }

        /** Rows of lse and delta: B·T·H. */
        public long rows() {
            return (long) batch * seqLen * heads;
        }

        int blocks() {
            return (seqLen + BLOCK - 1) / BLOCK;
        }

        @Override
        public String toString() {
            return describe(batch, seqLen, heads, kvHeads, headDim) + " window=" + window;
        }

        private static String describe(int b, int t, int h, int hkv, int d) {
            return "B=" + b + " T=" + t + " H=" + h + " Hkv=" + hkv + " D=" + d;
        }
    }

    /** {@code o = softmax(scale·q kᵀ, causal, window) v}; {@code lse} (fp32 [B,T,H]) may be null (inference). */
    public static void forward(Gpu gpu, Shape s, DeviceBuffer o, DeviceBuffer lse, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v) {
        ElementType t = operands(s, q, k, v);
        Checks.buffer("o", o, t, s.qSize());
        Alignment.require16("o", o);
        if (lse != null) Checks.buffer("lse", lse, ElementType.F32, s.rows());
        launchForward(gpu, s, 0, t, o, lse, q, k, v);
    }

    /**
     * The forward of {@code s.seqLen()} queries that continue {@code past} earlier positions: {@code q, o [B,T,H,D]}
     * are positions {@code past ..}, {@code k, v [B,past+T,Hkv,D]} every position from 0 (a KV cache with the new keys
     * appended), query t sees the keys of position {@code past + t} and before (and the window). {@code past} is a
     * multiple of 64, so that the result is the last T rows of one {@link #forward} over past + T positions, bit for bit.
     */
    public static void forwardAfter(Gpu gpu, Shape s, int past, DeviceBuffer o, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v) {
        if (past < 0 || past % BLOCK != 0) {
            throw new IllegalArgumentException("attention after past positions: past must be a multiple of " + BLOCK + " and >= 0, got " + past);
        }
        Shape all = new Shape(s.batch(), past + s.seqLen(), s.heads(), s.kvHeads(), s.headDim(), s.window(), s.scale());
        ElementType t = operands(s, all.kvSize(), q, k, v);
        Checks.buffer("o", o, t, s.qSize());
        Alignment.require16("o", o);
        launchForward(gpu, s, past, t, o, null, q, k, v);
    }

    private static void launchForward(Gpu gpu, Shape s, int past, ElementType t, DeviceBuffer o, DeviceBuffer lse, DeviceBuffer q,
                                      DeviceBuffer k, DeviceBuffer v) {
        CudaFunction f = kernel(gpu, "attn_fwd", s.headDim(), t);
        KernelTimes.run(gpu, "attn_fwd", () -> f.launch(gpu.stream(), new Dim3(s.blocks(), s.heads(), s.batch()), Dim3.of(THREADS),
                sharedBytes("attn_fwd", s.headDim(), t), o, lse, q, k, v, s.seqLen(), past, s.heads(), s.kvHeads(), s.window(),
                s.scale()));
    }

    /**
     * Gradients of {@link #forward} given {@code dO}, from its inputs, its output {@code o} and its
     * {@code lse}: {@code dq [B,T,H,D]}, {@code dk, dv [B,T,Hkv,D]}, overwritten (dk, dv summed over
     * the query heads of each group). Uses an fp32 scratch of B·T·H floats.
     */
    public static void backward(Gpu gpu, Shape s, DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, DeviceBuffer dO,
                                DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer o, DeviceBuffer lse) {
        ElementType t = operands(s, q, k, v);
        Checks.buffer("o", o, t, s.qSize());
        Checks.buffer("dO", dO, t, s.qSize());
        Checks.buffer("dq", dq, t, s.qSize());
        Checks.buffer("dk", dk, t, s.kvSize());
        Checks.buffer("dv", dv, t, s.kvSize());
        Checks.buffer("lse", lse, ElementType.F32, s.rows());
        for (var e : new Object[][] {{"o", o}, {"dO", dO}, {"dq", dq}, {"dk", dk}, {"dv", dv}}) {
            Alignment.require16((String) e[0], (DeviceBuffer) e[1]);
        }
        CudaFunction fdq = kernel(gpu, "attn_bwd_dq", s.headDim(), t);
        CudaFunction fdkdv = kernel(gpu, "attn_bwd_dkdv", s.headDim(), t);
        try (DeviceBuffer delta = gpu.f32(s.rows())) {
            long rows = s.rows();
            int warps = THREADS / 32;
            KernelTimes.run(gpu, "attn_bwd_delta", () -> gpu.kernel("attn_bwd_delta", t).launch(gpu.stream(),
                    (int) ((rows + warps - 1) / warps), THREADS, 0, delta, dO, o, rows, s.headDim()));
            KernelTimes.run(gpu, "attn_bwd_dq", () -> fdq.launch(gpu.stream(), new Dim3(s.blocks(), s.heads(), s.batch()),
                    Dim3.of(THREADS), sharedBytes("attn_bwd_dq", s.headDim(), t), dq, q, k, v, dO, lse, delta, s.seqLen(), s.heads(),
                    s.kvHeads(), s.window(), s.scale()));
            KernelTimes.run(gpu, "attn_bwd_dkdv", () -> fdkdv.launch(gpu.stream(), new Dim3(s.blocks(), s.kvHeads(), s.batch()),
                    Dim3.of(THREADS), sharedBytes("attn_bwd_dkdv", s.headDim(), t), dk, dv, q, k, v, dO, lse, delta, s.seqLen(),
                    s.heads(), s.kvHeads(), s.window(), s.scale()));
        }
    }

    /**
     * One decoding step: the query of every sequence at {@code position} ({@code q [B,H,D]}) against
     * KV caches {@code kCache, vCache [B, capacity, Hkv, D]} in which position p lives in row
     * {@code p % capacity} (a ring buffer when a window bounds what is kept; the capacity must cover
     * the keys the query sees). Writes {@code o [B,H,D]}. {@code s.seqLen()} is not used.
     */
    public static void decode(Gpu gpu, Shape s, DeviceBuffer o, DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache,
                              int capacity, int position) {
        ElementType t = Checks.storage("q", q);
        Checks.positive("capacity", capacity);
        if (position < 0) throw new IllegalArgumentException("decode position must be >= 0, got " + position);
        int first = s.window() > 0 ? Math.max(0, position - s.window() + 1) : 0;
        if (position - first + 1 > capacity) {
            throw new IllegalArgumentException("KV cache of " + capacity + " rows cannot hold the " + (position - first + 1)
                    + " keys that position " + position + " sees");
        }
        long qn = (long) s.batch() * s.heads() * s.headDim();
        long cache = (long) s.batch() * capacity * s.kvHeads() * s.headDim();
        Checks.buffer("q", q, t, qn);
        Checks.buffer("o", o, t, qn);
        Checks.buffer("kCache", kCache, t, cache);
        Checks.buffer("vCache", vCache, t, cache);
        gpu.kernel("attn_decode_d" + s.headDim(), t).launch(gpu.stream(), new Dim3(s.heads(), s.batch(), 1), Dim3.of(THREADS), 0,
                o, q, kCache, vCache, capacity, position, s.heads(), s.kvHeads(), s.window(), s.scale());
    }

    private static ElementType operands(Shape s, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v) {
        return operands(s, s.kvSize(), q, k, v);
    }

    /** Checks q against {@code s} and k, v against {@code kvSize} elements (more keys than queries after past positions). */
    private static ElementType operands(Shape s, long kvSize, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v) {
        ElementType t = Checks.storage("q", q);
        Checks.buffer("q", q, t, s.qSize());
        Checks.buffer("k", k, t, kvSize);
        Checks.buffer("v", v, t, kvSize);
        Alignment.require16("q", q);
        Alignment.require16("k", k);
        Alignment.require16("v", v);
        return t;
    }

    /**
     * Dynamic shared memory of a tile kernel ({@code attn_fwd}, {@code attn_bwd_dq}, {@code attn_bwd_dkdv})
     * for a head dim and storage type, in bytes, as attention.cu lays it out: 64-row tiles padded by 16
     * bytes; the pair of tiles a kernel streams (K and V; q and dO in dk/dv) double-buffered in bf16
     * (cp.async), single in fp32. bf16 D = 64: 45 KB forward, 54 KB dq, 54.5 KB dk/dv.
     */
    public static int sharedBytes(String kernel, int headDim, ElementType t) {
        int tile = BLOCK * (headDim * t.bytes() + 16);
        int streamed = 2 * (t == ElementType.BF16 ? 2 : 1) * tile;
        return switch (kernel) {
            case "attn_fwd" -> tile + streamed;                         // q
            case "attn_bwd_dq" -> 2 * tile + streamed;                  // q, dO
            case "attn_bwd_dkdv" -> 2 * tile + streamed + 2 * BLOCK * 4;  // k, v; lse and delta of a query block
            default -> throw new IllegalArgumentException("not an attention tile kernel: " + kernel);
        };
    }

    /**
     * CTAs of an attention tile kernel resident per SM on this device, as the launchers run it (its
     * layout, the largest shared carveout): the driver's occupancy calculator. On an H100 in bf16 at
     * D = 64: 4 for attn_fwd and attn_bwd_dq, 3 for attn_bwd_dkdv (registers: 125, 128, 167).
     */
    public static int ctasPerSm(Gpu gpu, String kernel, int headDim, ElementType t) {
        int smem = sharedBytes(kernel, headDim, t);
        CudaFunction f = kernel(gpu, kernel, headDim, t);
        f.setMaxDynamicSharedMemory(smem);
        return f.maxActiveBlocksPerMultiprocessor(THREADS, smem);
    }

    /** The kernel, asked for the largest shared carveout: several CTAs of 45-55 KB share an SM. */
    private static CudaFunction kernel(Gpu gpu, String kernel, int headDim, ElementType t) {
        CudaFunction f = gpu.kernel(kernel + "_d" + headDim, t);
        f.setPreferredSharedMemoryCarveout(100);
        return f;
    }
}
