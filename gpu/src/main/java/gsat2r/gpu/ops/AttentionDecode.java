package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Dim3;

/**
 * Split-KV attention of a decode step (attention_decode.cu; flash-decoding): one new token of each of B
 * sequences against that sequence's own KV ring at its own position, GQA, optional sliding window, RoPE on q
 * and the new key, the new key and value stored into the ring, fp32 accumulation. The CPU twin is
 * {@code gsat2r.core.cpu.Attention} over the ring's rows ({@code gsat2r.core.model.gsa.KvRing}).
 *
 * <p>Per row b: {@code caches} (I32, two 64-bit device addresses per row) point at its K and V rings
 * {@code [capacity[b], Hkv, D]} in the storage type, position j in row {@code j % capacity[b]}; {@code positions[b]}
 * is the new token's position (the ring must hold every visible position: capacity ≥ position + 1 without a
 * window, = window with one). q, k, v are the token's fp32 projections before RoPE. The visible positions are cut
 * into {@code splits} pieces of at least {@link #MIN_CHUNK} rows ({@link #MIN_CHUNK_FULL} when the batch alone fills the
 * SMs: {@link #minChunk}), each read once by one CTA for a group of query heads
 * (through a cp.async pipeline in {@value #SHARED_BYTES} bytes of dynamic shared memory); the CTAs of splits a short
 * context leaves empty return at once; the last CTA of a group merges the partials of the others in split order (a
 * counter per group in {@code counters}, zero before the first launch and left zero by every launch).
 */
public final class AttentionDecode {
    private AttentionDecode() {}

    /** The fewest rows a split takes: shorter ones would spend more on the merge than on the keys. */
    public static final int MIN_CHUNK = 64;
    /**
     * The fewest rows a split takes when the batch alone fills the SMs (one split a row and head group is a wave or
     * more): cutting a short context finer then only adds CTAs whose fixed costs (q's RoPE, the partial, the merge)
     * outweigh their rows; long contexts still get every split.
     */
    public static final int MIN_CHUNK_FULL = 256;
    /** The most splits a launch cuts a sequence into. */
    public static final int MAX_SPLITS = 64;
    /** The fewest splits at any batch (a long context read by one CTA alone runs at a fraction of the bandwidth). */
    public static final int MIN_SPLITS = 16;
    private static final int THREADS = 128, CTAS_PER_SM = 3;
    /** Dynamic shared memory of a CTA: the kernel's K/V pipeline, 4 stages of 8 KB (attention_decode.cu, SMEM_BYTES). */
    static final int SHARED_BYTES = 4 * 8192;

    /** The sizes of the layer; {@code window} 0 for full attention. */
    public record Shape(int heads, int kvHeads, int headDim, int window, float scale) {
        public Shape {
            if (heads < 1 || kvHeads < 1 || heads % kvHeads != 0) throw new IllegalArgumentException(heads + " heads, " + kvHeads + " kv heads");
            if (headDim != 64 && headDim != 128) throw new IllegalArgumentException("decode attention takes head dims 64 and 128, got " + headDim);
            if (window < 0) throw new IllegalArgumentException("negative window " + window);
        }

        int group() {
            return heads / kvHeads;
        }

        /** Query heads one CTA reads the keys for. */
        int headsPerCta() {
            return group() == 1 ? 1 : group() == 2 ? 2 : 4;
        }

        int headGroups() {
            return Math.ceilDiv(group(), headsPerCta());
        }
    }

    /** What the launches need beside the inputs: per row the rings' addresses, capacities, positions; RoPE's tables. */
    public record Rings(DeviceBuffer caches, DeviceBuffer capacity, DeviceBuffer positions, DeviceBuffer cos, DeviceBuffer sin,
                        int ropePositions) {}

    /**
     * Splits for a batch: the most that fill k whole waves of the SMs ({@value #CTAS_PER_SM} CTAs each), for the fewest
     * waves k that give at least {@link #MIN_SPLITS}; at most {@link #MAX_SPLITS}. At small batch that is one wave (as
     * many CTAs as the SMs hold at once: a second wave of a few CTAs would double the time); at large batch a long
     * context still spreads over {@value #MIN_SPLITS} CTAs a sequence and the last wave is nearly full. The step is
     * captured per batch, not per context length: a short context leaves the last splits empty, and their CTAs return
     * at once. On 132 SMs with 8 kv heads and one head group: 49 splits at B = 1, 18 at B = 8, 16 at B = 64 and 256.
     */
    public static int splits(Gpu gpu, Shape s, int batch) {
        return splits(slots(gpu), (long) batch * s.kvHeads() * s.headGroups());
    }

    /** {@link #splits(Gpu, Shape, int)} for CTA slots a wave and CTAs a split. */
    static int splits(long slots, long perSplit) {
        long waves = Math.max(1, Math.ceilDiv(MIN_SPLITS * perSplit, slots));
        return (int) Math.max(1, Math.min(MAX_SPLITS, waves * slots / perSplit));
    }

    /**
     * The fewest rows a split takes at a batch: {@link #MIN_CHUNK_FULL} when the batch alone fills the SMs, else
     * {@link #MIN_CHUNK}.
     */
    public static int minChunk(Gpu gpu, Shape s, int batch) {
        return minChunk(slots(gpu), (long) batch * s.kvHeads() * s.headGroups());
    }

    /** {@link #minChunk(Gpu, Shape, int)} for CTA slots a wave and CTAs a split. */
    static int minChunk(long slots, long perSplit) {
        return perSplit >= slots ? MIN_CHUNK_FULL : MIN_CHUNK;
    }

    private static long slots(Gpu gpu) {
        return (long) CTAS_PER_SM * gpu.info().multiprocessors();
    }

    /** Floats of the partials' workspace for a batch and split count. */
    public static long workspaceFloats(Shape s, int batch, int splits) {
        return (long) batch * s.heads() * splits * (s.headDim() + 2);
    }

    /** Ints of the merge counters for a batch (zero them once). */
    public static long counters(Shape s, int batch) {
        return (long) batch * s.kvHeads() * s.headGroups();
    }

    public static void decode(Gpu gpu, Shape s, int batch, int splits, DeviceBuffer o, DeviceBuffer workspace, DeviceBuffer counters,
                              Rows q, Rows k, Rows v, Rings rings) {
        Checks.positive("batch", batch);
        if (splits < 1 || splits > MAX_SPLITS) throw new IllegalArgumentException("splits must be 1.." + MAX_SPLITS + ", got " + splits);
        ElementType t = Checks.storage("o", o);
        int D = s.headDim();
        Checks.buffer("o", o, t, (long) batch * s.heads() * D);
        Checks.buffer("workspace", workspace, ElementType.F32, workspaceFloats(s, batch, splits));
        Checks.buffer("counters", counters, ElementType.I32, counters(s, batch));
        Checks.buffer("caches", rings.caches(), ElementType.I32, 4L * batch);
        Alignment.require16("caches", rings.caches());
        Checks.buffer("capacity", rings.capacity(), ElementType.I32, batch);
        Checks.buffer("positions", rings.positions(), ElementType.I32, batch);
        Checks.buffer("cos", rings.cos(), ElementType.F32, (long) rings.ropePositions() * D / 2);
        Checks.buffer("sin", rings.sin(), ElementType.F32, (long) rings.ropePositions() * D / 2);
        rows("q", q, batch, s.heads() * D);
        rows("k", k, batch, s.kvHeads() * D);
        rows("v", v, batch, s.kvHeads() * D);
        String name = "attention_decode_d" + D + "_g" + s.headsPerCta() + "_" + t.kernelSuffix();
        Launches.decode(gpu, gpu.kernel(name), new Dim3(splits, s.kvHeads() * s.headGroups(), batch), Dim3.of(THREADS), SHARED_BYTES,
                o, workspace, counters, q.buffer(), q.stride(), k.buffer(), k.stride(), v.buffer(), v.stride(), rings.caches(),
                rings.capacity(), rings.positions(), rings.cos(), rings.sin(), rings.ropePositions(), s.heads(), s.kvHeads(),
                s.window(), s.scale(), minChunk(gpu, s, batch));
    }

    private static void rows(String what, Rows r, int batch, int width) {
        if (r.stride() < width) throw new IllegalArgumentException(what + " rows are " + r.stride() + " apart, narrower than " + width);
        Checks.buffer(what, r.buffer(), ElementType.F32, (long) (batch - 1) * r.stride() + width);
    }
}
