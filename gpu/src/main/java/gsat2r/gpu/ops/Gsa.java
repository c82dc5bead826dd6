package gsat2r.gpu.ops;

import gsat2r.core.gsa.GsaShape;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaFunction;
import gsat2r.gpu.cuda.Dim3;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Gated Slot Attention on the GPU (gsa.cu): the chunked forward and backward passes (chunk 64,
 * training) and the recurrent decode step, the counterparts of {@code gsat2r.core.gsa.GsaChunked}
 * and {@code GsaRecurrent}; math in docs/gsa-math.md.
 *
 * <p>Layouts are {@link GsaShape}'s (fla's, batch leading): {@code q [B,T,H,K]}, {@code k [B,T,Hkv,K]},
 * {@code v [B,T,Hkv,V]}, {@code s, g [B,T,Hkv,M]}, {@code o [B,T,H,V]}; states {@code hk [B,Hkv,K,M]},
 * {@code hv [B,Hkv,M,V]} in fp32, per kv head. Inputs, outputs and input gradients share one
 * storage type (F32 or BF16); every buffer starts on 16 bytes. K and V are multiples of 64, M is 16,
 * 32 or 64. Arithmetic is fp32: in BF16 storage the intra-chunk products run on the tensor cores
 * with bf16 operands, in F32 storage they are exact fp32 (the accuracy reference, slower).
 *
 * <p>A training step is {@code Saved s = forward(..., true)}, then {@code backward(s, ...)}, then
 * {@code s.close()}; {@code forward(..., false)} (inference) keeps nothing.
 */
public final class Gsa {
    private Gsa() {}

    /** Tokens per chunk (fla's default, and {@code GsaChunked.DEFAULT_CHUNK}). */
    public static final int CHUNK = 64;
    private static final int THREADS = 128;
    private static final int STATE_BLOCK = 64;

    /** The operator's inputs, in the layouts above. */
    public record Inputs(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer s, DeviceBuffer g) {}

    /** Gradients of the inputs (overwritten; those of k, v, s, g summed over the query heads of each group). */
    public record Gradients(DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, DeviceBuffer ds, DeviceBuffer dg) {}

    /** A recurrent state or its gradient: {@code hk [B,Hkv,K,M]}, {@code hv [B,Hkv,M,V]}, fp32. */
    public record State(DeviceBuffer hk, DeviceBuffer hv) {}

    /**
     * What {@link #forward} keeps for {@link #backward}: the state entering every chunk (and the final
     * state) in the storage type, {@code [B,Hkv,N+1,K,M]} and {@code [B,Hkv,N+1,M,V]}, and the slot
     * scores {@code ok} and read weights {@code p = softmax(ok)}, fp32 {@code [B,T,H,M]}. Close it
     * after the backward pass (its buffers return to the caching allocator).
     */
    public static final class Saved implements AutoCloseable {
        private final GsaShape shape;
        private final float scale;
        private final ElementType type;
        private final DeviceBuffer hkStates, hvStates, ok, p;

        private Saved(GsaShape shape, float scale, ElementType type, DeviceBuffer hkStates, DeviceBuffer hvStates,
                      DeviceBuffer ok, DeviceBuffer p) {
            this.shape = shape;
            this.scale = scale;
            this.type = type;
            this.hkStates = hkStates;
            this.hvStates = hvStates;
            this.ok = ok;
            this.p = p;
        }

        public GsaShape shape() {
            return shape;
        }

        /** {@code p = softmax(ok)} of every token and query head, fp32 {@code [B,T,H,M]} (for diagnostics). */
        public DeviceBuffer p() {
            return p;
        }

        @Override
        public void close() {
            for (DeviceBuffer b : new DeviceBuffer[] {hkStates, hvStates, ok, p}) b.close();
        }
    }

    /**
     * Runs the T tokens of {@code in} from {@code initial} (null: zeros) and writes {@code o}; writes
     * the final state into {@code fin} when not null. With {@code forBackward}, returns what
     * {@link #backward} needs; otherwise returns null.
     */
    public static Saved forward(Gpu gpu, GsaShape sh, float scale, Inputs in, DeviceBuffer o, State initial, State fin,
                                boolean forBackward) {
        ElementType t = inputs(sh, in);
        Checks.buffer("o", o, t, sh.oSize());
        Alignment.require16("o", o);
        state("initial state", sh, initial);
        state("final state", sh, fin);
        if (!Float.isFinite(scale)) throw new IllegalArgumentException("GSA scale must be finite, got " + scale);
        int[] smem = sharedBytes(gpu, sh.slots(), t);
        int B = sh.batch(), T = sh.seqLen(), H = sh.heads(), Hkv = sh.kvHeads(), K = sh.keyDim(), V = sh.valueDim(), M = sh.slots();
        int N = chunks(sh);
        String m = "_m" + M;
        List<DeviceBuffer> owned = new ArrayList<>();
        try {
            DeviceBuffer hkS = own(owned, gpu.allocate(t, (long) B * Hkv * (N + 1) * K * M));
            DeviceBuffer hvS = own(owned, gpu.allocate(t, (long) B * Hkv * (N + 1) * M * V));
            DeviceBuffer ok = forBackward ? own(owned, gpu.f32((long) B * T * H * M)) : null;
            DeviceBuffer p = forBackward ? own(owned, gpu.f32((long) B * T * H * M)) : null;
            KernelTimes.run(gpu, "gsa_fwd_states", () -> gpu.kernel("gsa_fwd_states" + m, t).launch(gpu.stream(),
                    new Dim3(B * Hkv, K / STATE_BLOCK + V / STATE_BLOCK, 1), Dim3.of(THREADS), smem[0], hkS, hvS,
                    fin == null ? null : fin.hk(), fin == null ? null : fin.hv(), initial == null ? null : initial.hk(),
                    initial == null ? null : initial.hv(), in.k(), in.v(), in.s(), in.g(), T, Hkv, K, V));
            gpu.kernel("gsa_fwd_out" + m, t).setPreferredSharedMemoryCarveout(100);  // three CTAs per H100 SM (bf16)
            KernelTimes.run(gpu, "gsa_fwd_out", () -> gpu.kernel("gsa_fwd_out" + m, t).launch(gpu.stream(), new Dim3(N, H, B),
                    Dim3.of(THREADS), smem[1], o, ok, p, in.q(), in.k(), in.v(), in.s(), in.g(), hkS, hvS, T, H, Hkv, K, V, scale));
            if (!forBackward) {
                closeAll(owned);  // stream-ordered: the next user of these blocks runs after the kernels above
                return null;
            }
            owned.clear();
            return new Saved(sh, scale, t, hkS, hvS, ok, p);
        } catch (RuntimeException e) {
            closeAll(owned);
            throw e;
        }
    }

    /**
     * Gradients of a loss given {@code dO [B,T,H,V]} and {@code dFinal} (the gradient of the final
     * state; null when the loss does not read it), from the forward pass's {@code saved} and the same
     * inputs. Writes {@code grads} and, when not null, {@code dInitial} (the gradient of the initial state).
     */
    public static void backward(Gpu gpu, Saved saved, Inputs in, DeviceBuffer dO, State dFinal, Gradients grads, State dInitial) {
        GsaShape sh = saved.shape;
        ElementType t = inputs(sh, in);
        if (t != saved.type) throw new IllegalArgumentException("GSA backward inputs are " + t + ", the forward pass was " + saved.type);
        Checks.buffer("dO", dO, t, sh.oSize());
        Checks.buffer("dq", grads.dq(), t, sh.qSize());
        Checks.buffer("dk", grads.dk(), t, sh.kSize());
        Checks.buffer("dv", grads.dv(), t, sh.vSize());
        Checks.buffer("ds", grads.ds(), t, sh.slotSize());
        Checks.buffer("dg", grads.dg(), t, sh.slotSize());
        for (var e : new Object[][] {{"dO", dO}, {"dq", grads.dq()}, {"dk", grads.dk()}, {"dv", grads.dv()}, {"ds", grads.ds()},
                {"dg", grads.dg()}}) {
            Alignment.require16((String) e[0], (DeviceBuffer) e[1]);
        }
        state("final-state gradient", sh, dFinal);
        state("initial-state gradient", sh, dInitial);
        int[] smem = sharedBytes(gpu, sh.slots(), t);
        int B = sh.batch(), T = sh.seqLen(), H = sh.heads(), Hkv = sh.kvHeads(), K = sh.keyDim(), V = sh.valueDim(), M = sh.slots();
        int N = chunks(sh), blocks = K / STATE_BLOCK + V / STATE_BLOCK;
        String m = "_m" + M;
        boolean group = H != Hkv;
        try (DeviceBuffer dok = gpu.f32((long) B * T * H * M); DeviceBuffer gq = gpu.f32((long) B * T * H * M);
             DeviceBuffer dhkS = gpu.allocate(t, (long) B * Hkv * N * K * M);
             DeviceBuffer dhvS = gpu.allocate(t, (long) B * Hkv * N * M * V);
             DeviceBuffer endPart = gpu.f32((long) B * Hkv * N * blocks * M);
             DeviceBuffer wsK = group ? gpu.f32((long) B * T * Hkv * K) : null;
             DeviceBuffer wsV = group ? gpu.f32((long) B * T * Hkv * V) : null) {
            gpu.kernel("gsa_bwd_dp" + m, t).setPreferredSharedMemoryCarveout(100);  // three CTAs per H100 SM (bf16)
            KernelTimes.run(gpu, "gsa_bwd_dp", () -> gpu.kernel("gsa_bwd_dp" + m, t).launch(gpu.stream(), new Dim3(N, H, B),
                    Dim3.of(THREADS), smem[1], dok, gq, saved.p, saved.ok, dO, in.v(), in.s(), in.g(), saved.hvStates, T, H, Hkv, V));
            KernelTimes.run(gpu, "gsa_bwd_states", () -> gpu.kernel("gsa_bwd_states" + m, t).launch(gpu.stream(),
                    new Dim3(B * Hkv, blocks, 1), Dim3.of(THREADS), smem[0], dhkS, dhvS, dInitial == null ? null : dInitial.hk(),
                    dInitial == null ? null : dInitial.hv(), endPart, dFinal == null ? null : dFinal.hk(),
                    dFinal == null ? null : dFinal.hv(), saved.hkStates, saved.hvStates, in.q(), dO, dok, saved.p, in.g(),
                    T, H, Hkv, K, V, saved.scale));
            // two CTAs of the bf16 layout (113 KB at M = 64) share an H100 SM when the SM gives shared memory its maximum
            gpu.kernel("gsa_bwd_chunk" + m, t).setPreferredSharedMemoryCarveout(100);
            KernelTimes.run(gpu, "gsa_bwd_chunk", () -> gpu.kernel("gsa_bwd_chunk" + m, t).launch(gpu.stream(), new Dim3(N, Hkv, B),
                    Dim3.of(THREADS), smem[2], grads.dq(), grads.dk(), grads.dv(), grads.ds(), grads.dg(), wsK, wsV, in.q(), in.k(),
                    in.v(), in.s(), in.g(), dO, saved.p, dok, gq, saved.hkStates, dhkS, dhvS, endPart, T, H, Hkv, K, V, saved.scale));
        }
    }

    /**
     * One decode token for every sequence: {@code token} holds {@code q [B,H,K]}, {@code k [B,Hkv,K]},
     * {@code v [B,Hkv,V]}, {@code s, g [B,Hkv,M]} ({@code sh.seqLen()} must be 1); updates {@code state}
     * (fp32) in place and writes {@code o [B,H,V]}.
     */
    public static void step(Gpu gpu, GsaShape sh, float scale, Inputs token, DeviceBuffer o, State state) {
        if (sh.seqLen() != 1) throw new IllegalArgumentException("GSA step takes one token, the shape has T=" + sh.seqLen());
        ElementType t = inputs(sh, token);
        Checks.buffer("o", o, t, sh.oSize());
        if (state == null) throw new IllegalArgumentException("GSA step needs a state");
        state("state", sh, state);
        int K = sh.keyDim(), V = sh.valueDim(), M = sh.slots(), threads = 256;
        long shared = 4L * (pad4(K) * 2 + pad4(V) + 3L * pad4(M) + threads);
        gpu.kernel("gsa_step_m" + M, t).launch(gpu.stream(), Dim3.of(sh.batch() * sh.kvHeads()), Dim3.of(threads), (int) shared,
                o, state.hk(), state.hv(), token.q(), token.k(), token.v(), token.s(), token.g(), sh.heads(), sh.kvHeads(), K, V, scale);
    }

    /** Chunks of {@link #CHUNK} tokens in a sequence of {@code sh.seqLen()}. */
    public static int chunks(GsaShape sh) {
        return Math.ceilDiv(sh.seqLen(), CHUNK);
    }

    private static ElementType inputs(GsaShape sh, Inputs in) {
        if (in == null) throw new IllegalArgumentException("GSA inputs are missing");
        if (sh.keyDim() % 64 != 0 || sh.valueDim() % 64 != 0) {
            throw new IllegalArgumentException("GSA kernels need K and V multiples of 64, got K=" + sh.keyDim() + " V=" + sh.valueDim());
        }
        if (sh.slots() != 16 && sh.slots() != 32 && sh.slots() != 64) {
            throw new IllegalArgumentException("GSA kernels support 16, 32 or 64 slots, got " + sh.slots());
        }
        ElementType t = Checks.storage("q", in.q());
        Checks.buffer("q", in.q(), t, sh.qSize());
        Checks.buffer("k", in.k(), t, sh.kSize());
        Checks.buffer("v", in.v(), t, sh.vSize());
        Checks.buffer("s", in.s(), t, sh.slotSize());
        Checks.buffer("g", in.g(), t, sh.slotSize());
        for (var e : new Object[][] {{"q", in.q()}, {"k", in.k()}, {"v", in.v()}, {"s", in.s()}, {"g", in.g()}}) {
            Alignment.require16((String) e[0], (DeviceBuffer) e[1]);
        }
        return t;
    }

    private static void state(String what, GsaShape sh, State st) {
        if (st == null) return;
        long hk = (long) sh.batch() * sh.kvHeads() * sh.keyDim() * sh.slots();
        long hv = (long) sh.batch() * sh.kvHeads() * sh.slots() * sh.valueDim();
        Checks.buffer(what + " hk", st.hk(), ElementType.F32, hk);
        Checks.buffer(what + " hv", st.hv(), ElementType.F32, hv);
    }

    private static final Map<String, int[]> SHARED = new ConcurrentHashMap<>();

    /**
     * Shared-memory bytes of the state, row and chunk-backward kernels for M slots and a storage type,
     * as the kernels lay it out (gsa_smem_sizes reports the kernels' own carve-out; asked once).
     */
    static int[] sharedBytes(Gpu gpu, int slots, ElementType t) {
        String key = "m" + slots + "_" + t.kernelSuffix();
        int[] cached = SHARED.get(key);
        if (cached != null) return cached;
        try (DeviceBuffer out = gpu.i32(4)) {
            gpu.kernel("gsa_smem_sizes_m" + slots, t).launch(gpu.stream(), 1, 32, 0, out);
            int[] sizes = out.toIntArray();
            SHARED.put(key, sizes);
            return sizes;
        }
    }

    /**
     * CTAs of a GSA chunk kernel ({@code gsa_fwd_states}, {@code gsa_fwd_out}, {@code gsa_bwd_dp},
     * {@code gsa_bwd_states}, {@code gsa_bwd_chunk}) resident per SM on this device, for M slots and a
     * storage type, as the launchers run it (its layout, the largest shared carveout): the driver's
     * occupancy calculator. On an H100 in bf16: 3 for gsa_fwd_out and gsa_bwd_dp, 2 for gsa_bwd_chunk.
     */
    public static int ctasPerSm(Gpu gpu, String kernel, int slots, ElementType t) {
        int which = switch (kernel) {
            case "gsa_fwd_states", "gsa_bwd_states" -> 0;
            case "gsa_fwd_out", "gsa_bwd_dp" -> 1;
            case "gsa_bwd_chunk" -> 2;
            default -> throw new IllegalArgumentException("not a GSA chunk kernel: " + kernel);
        };
        CudaFunction f = gpu.kernel(kernel + "_m" + slots, t);
        int smem = sharedBytes(gpu, slots, t)[which];
        f.setMaxDynamicSharedMemory(smem);
        if (which > 0) f.setPreferredSharedMemoryCarveout(100);
        return f.maxActiveBlocksPerMultiprocessor(THREADS, smem);
    }

    /** Dynamic shared memory of a GSA chunk kernel (as {@link #ctasPerSm}) for M slots and a storage type, in bytes. */
    public static int sharedBytes(Gpu gpu, String kernel, int slots, ElementType t) {
        int[] sizes = sharedBytes(gpu, slots, t);
        return kernel.endsWith("states") ? sizes[0] : kernel.equals("gsa_bwd_chunk") ? sizes[2] : sizes[1];
    }

    private static long pad4(long n) {
        return (n + 3) / 4 * 4;
    }

    private static DeviceBuffer own(List<DeviceBuffer> owned, DeviceBuffer b) {
        owned.add(b);
        return b;
    }

    private static void closeAll(List<DeviceBuffer> owned) {
        for (DeviceBuffer b : owned) b.close();
        owned.clear();
    }
}
