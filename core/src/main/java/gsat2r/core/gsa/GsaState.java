package gsat2r.core.gsa;

import java.util.Arrays;

/**
 * The recurrent state of a GSA layer for a batch of sequences: {@code hk [B,Hkv,K,M]} (pass 1,
 * keys into slots) and {@code hv [B,Hkv,M,V]} (pass 2, slots into values), fp32, row-major.
 *
 * <p>The state is per key/value head, not per query head: both recurrences
 * {@code Hk_t = Hk_{t-1}·diag(exp g_t) + k_t s_tᵀ} and {@code Hv_t = diag(exp g_t)·Hv_{t-1} + s_t v_tᵀ}
 * read only k, v, s, g, which GQA shares over the query heads of a group. (fla repeats k, v, s, g
 * per query head and returns the state of the first head of each group; all heads of a group hold
 * the same state, so this is the same tensor.)
 *
 * <p>Mutable: the recurrent forward updates it in place. {@link #copy()} is a snapshot,
 * {@link #restore(GsaState)} puts one back.
 */
public final class GsaState {
    private final int batch, kvHeads, keyDim, slots, valueDim;
    private final float[] hk;
    private final float[] hv;

    /** Wraps existing arrays (not copied): {@code hk [B,Hkv,K,M]}, {@code hv [B,Hkv,M,V]}. */
    public GsaState(int batch, int kvHeads, int keyDim, int slots, int valueDim, float[] hk, float[] hv) {
        if (batch < 1 || kvHeads < 1 || keyDim < 1 || slots < 1 || valueDim < 1) {
            throw new IllegalArgumentException("GSA state sizes must be positive: B=" + batch + " Hkv=" + kvHeads
                    + " K=" + keyDim + " M=" + slots + " V=" + valueDim);
        }
        long hkSize = (long) batch * kvHeads * keyDim * slots;
        long hvSize = (long) batch * kvHeads * slots * valueDim;
        if (hk.length != hkSize || hv.length != hvSize) {
            throw new IllegalArgumentException("GSA state arrays have " + hk.length + " and " + hv.length
                    + " floats; [B,Hkv,K,M] and [B,Hkv,M,V] need " + hkSize + " and " + hvSize);
        }
        this.batch = batch;
        this.kvHeads = kvHeads;
        this.keyDim = keyDim;
        this.slots = slots;
        this.valueDim = valueDim;
        this.hk = hk;
        this.hv = hv;
    }

    /** The all-zero state (the state before the first token). */
    public static GsaState zeros(int batch, int kvHeads, int keyDim, int slots, int valueDim) {
        return new GsaState(batch, kvHeads, keyDim, slots, valueDim,
                new float[batch * kvHeads * keyDim * slots], new float[batch * kvHeads * slots * valueDim]);
    }

    /** The all-zero state that fits {@code shape}. */
    public static GsaState zeros(GsaShape shape) {
        return zeros(shape.batch(), shape.kvHeads(), shape.keyDim(), shape.slots(), shape.valueDim());
    }

    public int batch() {
        return batch;
    }

    public int kvHeads() {
        return kvHeads;
    }

    public int keyDim() {
        return keyDim;
    }

    public int slots() {
        return slots;
    }

    public int valueDim() {
        return valueDim;
    }

    /** The live {@code hk [B,Hkv,K,M]} array (not a copy). */
    public float[] hk() {
        return hk;
    }

    /** The live {@code hv [B,Hkv,M,V]} array (not a copy). */
    public float[] hv() {
        return hv;
    }

    /** Offset of {@code hk[b,kv,0,0]}. */
    int hkOffset(int b, int kv) {
        return (b * kvHeads + kv) * keyDim * slots;
    }

    /** Offset of {@code hv[b,kv,0,0]}. */
    int hvOffset(int b, int kv) {
        return (b * kvHeads + kv) * slots * valueDim;
    }

    /** A snapshot: an independent copy. */
    public GsaState copy() {
        return new GsaState(batch, kvHeads, keyDim, slots, valueDim, hk.clone(), hv.clone());
    }

    /** Overwrites this state with {@code snapshot} (same sizes). */
    public void restore(GsaState snapshot) {
        if (!sameSizes(snapshot)) {
            throw new IllegalArgumentException("GSA snapshot " + snapshot + " does not fit " + this);
        }
        System.arraycopy(snapshot.hk, 0, hk, 0, hk.length);
        System.arraycopy(snapshot.hv, 0, hv, 0, hv.length);
    }

    /** Sets every entry to zero (a new sequence). */
    public void reset() {
        Arrays.fill(hk, 0f);
        Arrays.fill(hv, 0f);
    }

    public boolean sameSizes(GsaState other) {
        return other.batch == batch && other.kvHeads == kvHeads && other.keyDim == keyDim
                && other.slots == slots && other.valueDim == valueDim;
    }

    /** Throws unless this state has the sizes that {@code shape} needs; {@code what} names it in the message. */
    void requireFits(GsaShape shape, String what) {
        if (shape.batch() != batch || shape.kvHeads() != kvHeads || shape.keyDim() != keyDim
                || shape.slots() != slots || shape.valueDim() != valueDim) {
            throw new IllegalArgumentException("GSA " + what + " " + this + " does not fit the inputs " + shape);
        }
    }

    @Override
    public String toString() {
        return "GsaState[B=" + batch + " Hkv=" + kvHeads + " K=" + keyDim + " M=" + slots + " V=" + valueDim + "]";
    }
}
