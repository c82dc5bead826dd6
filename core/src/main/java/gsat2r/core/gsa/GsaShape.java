package gsat2r.core.gsa;

/**
 * The sizes of one Gated Slot Attention call.
 *
 * <p>Arrays are row-major in fla's layout with a leading batch: {@code q [B,T,H,K]},
 * {@code k [B,T,Hkv,K]}, {@code v [B,T,Hkv,V]}, {@code s, g [B,T,Hkv,M]}, {@code o [B,T,H,V]}, so
 * the layer can hand over its projection outputs ({@code [B,T,heads·dim]}) without a transpose.
 * Query head {@code h} reads key/value head {@code h / group()} (GQA, as fla's {@code repeat}).
 *
 * @param batch    B, independent sequences
 * @param seqLen   T, tokens per sequence
 * @param heads    H, query heads
 * @param kvHeads  Hkv, key/value heads; divides H
 * @param keyDim   K, size of q and k per head
 * @param valueDim V, size of v and o per head
 * @param slots    M, memory slots (size of s and g per head)
 */
public record GsaShape(int batch, int seqLen, int heads, int kvHeads, int keyDim, int valueDim, int slots) {

    public GsaShape {
        if (batch < 1 || seqLen < 1 || heads < 1 || kvHeads < 1 || keyDim < 1 || valueDim < 1 || slots < 1) {
            throw new IllegalArgumentException("GSA sizes must be positive: " + describe(batch, seqLen, heads,
                    kvHeads, keyDim, valueDim, slots));
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("GSA query heads " + heads + " are not a multiple of kv heads " + kvHeads);
        }
        long largest = Math.max(Math.max((long) heads * keyDim, (long) heads * valueDim), (long) kvHeads * slots);
        if ((long) batch * seqLen * largest > Integer.MAX_VALUE
                || (long) batch * kvHeads * slots * Math.max(keyDim, valueDim) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("GSA tensors too large for one Java array: " + describe(batch, seqLen,
                    heads, kvHeads, keyDim, valueDim, slots));
        }
    }

    /** Query heads per key/value head. */
    public int group() {
        return heads / kvHeads;
    }

    /** The same sizes for a different number of tokens (e.g. 1 for a decode step). */
    public GsaShape withSeqLen(int t) {
        return new GsaShape(batch, t, heads, kvHeads, keyDim, valueDim, slots);
    }

    public int qSize() {
        return batch * seqLen * heads * keyDim;
    }

    public int kSize() {
        return batch * seqLen * kvHeads * keyDim;
    }

    public int vSize() {
        return batch * seqLen * kvHeads * valueDim;
    }

    /** Size of s and of g. */
    public int slotSize() {
        return batch * seqLen * kvHeads * slots;
    }

    public int oSize() {
        return batch * seqLen * heads * valueDim;
    }

    /** Size of per-query-head slot scores (ok and p): {@code [B,T,H,M]}. */
    public int scoreSize() {
        return batch * seqLen * heads * slots;
    }

    /** Offset of {@code q[b,t,h,0]}. */
    int q(int b, int t, int h) {
        return ((b * seqLen + t) * heads + h) * keyDim;
    }

    int k(int b, int t, int kv) {
        return ((b * seqLen + t) * kvHeads + kv) * keyDim;
    }

    int v(int b, int t, int kv) {
        return ((b * seqLen + t) * kvHeads + kv) * valueDim;
    }

    /** Offset of {@code s[b,t,kv,0]} and {@code g[b,t,kv,0]}. */
    int slot(int b, int t, int kv) {
        return ((b * seqLen + t) * kvHeads + kv) * slots;
    }

    int o(int b, int t, int h) {
        return ((b * seqLen + t) * heads + h) * valueDim;
    }

    /** Offset of {@code ok[b,t,h,0]} and {@code p[b,t,h,0]}. */
    int score(int b, int t, int h) {
        return ((b * seqLen + t) * heads + h) * slots;
    }

    @Override
    public String toString() {
        return describe(batch, seqLen, heads, kvHeads, keyDim, valueDim, slots);
    }

    private static String describe(int b, int t, int h, int hkv, int k, int v, int m) {
        return "B=" + b + " T=" + t + " H=" + h + " Hkv=" + hkv + " K=" + k + " V=" + v + " M=" + m;
    }
}
