package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Dim3;

/**
 * One decode step of the GSA layer for B sequences, each with its own fp32 recurrent state where its decoder
 * keeps it (gsa_decode.cu; the CPU twin is {@code GsaRecurrent.step(GsaState[], ...)} with the layer's
 * activations): from the projections' fp32 pre-activations, {@code q̃ = scale·silu(q)}, {@code k = silu(k)},
 * {@code v = silu(v)}, {@code g = logsigmoid(f)/τ}, {@code s = 1 − exp(g)}, both recurrences in place, and
 * {@code o = softmax(q̃ᵀ Hk)ᵀ Hv} per query head, in one kernel.
 *
 * <p>{@code states} is an I32 buffer holding {@code 2B} 64-bit device addresses (two ints each, little-endian):
 * row b's {@code Hk [Hkv,K,M]} and {@code Hv [Hkv,M,V]}; a table the caller rewrites when the batch changes, so
 * that a captured graph replays over other sequences. q, k, v, f are fp32 views with rows {@code ld} apart (query
 * head h at column {@code h·K} of q, kv head κ at {@code κ·K}, {@code κ·V}, {@code κ·M}); o is {@code [B, H·V]} in
 * F32 or BF16.
 */
public final class GsaDecode {
    private GsaDecode() {}

    private static final int THREADS = 256;

    /** The sizes of the layer. */
    public record Shape(int heads, int kvHeads, int keyDim, int valueDim, int slots) {
        public Shape {
            if (heads < 1 || kvHeads < 1 || heads % kvHeads != 0) throw new IllegalArgumentException(heads + " heads, " + kvHeads + " kv heads");
            if (keyDim % 4 != 0 || valueDim % 4 != 0 || slots < 1 || slots > 64 || slots % 4 != 0) {
                throw new IllegalArgumentException("GSA decode needs K, V multiples of 4 and 4..64 slots, got K=" + keyDim + " V="
                        + valueDim + " M=" + slots);
            }
        }

        int group() {
            return heads / kvHeads;
        }
    }

    public static void step(Gpu gpu, Shape s, int batch, DeviceBuffer o, DeviceBuffer states, Rows q, Rows k, Rows v, Rows f, float tau,
                            float scale) {
        Checks.positive("batch", batch);
        ElementType t = Checks.storage("o", o);
        Checks.buffer("o", o, t, (long) batch * s.heads() * s.valueDim());
        Checks.buffer("states", states, ElementType.I32, 4L * batch);
        Alignment.require16("states", states);
        rows("q", q, batch, s.heads() * s.keyDim());
        rows("k", k, batch, s.kvHeads() * s.keyDim());
        rows("v", v, batch, s.kvHeads() * s.valueDim());
        rows("f", f, batch, s.kvHeads() * s.slots());
        if (!(tau > 0)) throw new IllegalArgumentException("gate logit normaliser must be positive, got " + tau);
        Launches.decode(gpu, gpu.kernel("gsa_decode_step", t), new Dim3(batch, s.kvHeads(), 1), Dim3.of(THREADS), sharedBytes(s),
                o, states, q.buffer(), q.stride(), k.buffer(), k.stride(), v.buffer(), v.stride(), f.buffer(), f.stride(),
                s.heads(), s.kvHeads(), s.keyDim(), s.valueDim(), s.slots(), tau, scale);
    }

    /** Dynamic shared memory of the kernel, as gsa_decode.cu lays it out: Hk, Hv, q̃, k, v, s, decay, p (fp32, 16-byte pieces). */
    public static int sharedBytes(Shape s) {
        int K = s.keyDim(), V = s.valueDim(), M = s.slots(), G = s.group();
        return up((long) K * M) + up((long) M * V) + up((long) G * K) + up(K) + up(V) + 2 * up(M) + up((long) G * M);
    }

    private static int up(long floats) {
        return Math.toIntExact((floats * 4 + 15) / 16 * 16);
    }

    private static void rows(String what, Rows r, int batch, int width) {
        if (r.stride() < width) throw new IllegalArgumentException(what + " rows are " + r.stride() + " apart, narrower than " + width);
        Checks.buffer(what, r.buffer(), ElementType.F32, (long) (batch - 1) * r.stride() + width);
    }
}
