package gsat2r.core.data.synthetic;

import gsat2r.core.T2rException;
import gsat2r.core.data.SplitMix64;

import java.util.List;

/**
 * Which training sequences are synthetic, and of which kind. Sequences go in blocks of
 * {@value #BLOCK}; in every block exactly {@code share · BLOCK} are of each kind (shares are multiples
 * of 1/{@value #BLOCK}) and the rest come from the corpus, at positions shuffled anew in each block
 * (Fisher–Yates from SplitMix64 seeded with the run's seed and the block). So the k-th sequence of a
 * run is a pure function of (seed, k), the shares hold exactly over every block (a batch gets close to
 * them, not by luck over the whole run), and corpus and synthetic sequences are numbered in order:
 * corpus sequence c is the c-th window of the corpus order ({@link gsat2r.core.data.SequenceOrder}),
 * synthetic sequence j of a kind the j-th document window of that kind. Without synthetic kinds,
 * sequence k is corpus sequence k, as it always was.
 */
public final class SyntheticMix {

    public static final int BLOCK = 1000;
    /** The purpose tag of the block permutations ({@link SplitMix64#derive}). */
    static final long MIX = 0x4D4958L;                   // "MIX"

    /** Where the k-th sequence comes from. */
    public sealed interface Slot permits Corpus, Synthetic {}

    /** The {@code index}-th window of the corpus order. */
    public record Corpus(long index) implements Slot {}

    /** The {@code index}-th window of synthetic kind {@code kind} (its place in the recipe's list). */
    public record Synthetic(int kind, long index) implements Slot {}

    private final long seed;
    private final int[] counts;
    private final int[] starts;
    private final int synthetic;
    private long cachedBlock = -1;
    private int[] permutation;

    /** {@code shares}: per kind, a multiple of 1/BLOCK; their sum at most 1. */
    public SyntheticMix(long seed, List<Double> shares) {
        this.seed = seed;
        this.counts = new int[shares.size()];
        this.starts = new int[shares.size()];
        int sum = 0;
        for (int i = 0; i < counts.length; i++) {
            counts[i] = countOf(shares.get(i));
            starts[i] = sum;
            sum += counts[i];
        }
        if (sum > BLOCK) throw new T2rException("synthetic shares add up to " + (double) sum / BLOCK + ", more than 1");
        this.synthetic = sum;
    }

    /** Sequences of a block that a share takes; fails unless the share is a multiple of 1/BLOCK in [0, 1]. */
    public static int countOf(double share) {
        double c = share * BLOCK;
        long n = Math.round(c);
        if (!(share >= 0 && share <= 1) || Math.abs(c - n) > 1e-6) {
            throw new T2rException("a synthetic share must be a multiple of " + 1.0 / BLOCK + " in [0, 1] (got " + share + ")");
        }
        return (int) n;
    }

    /** The exact share of kind {@code i}. */
    public double share(int i) {
        return (double) counts[i] / BLOCK;
    }

    /** The share of all synthetic kinds together. */
    public double syntheticShare() {
        return (double) synthetic / BLOCK;
    }

    /** Where the k-th training sequence of the run comes from. */
    public synchronized Slot slotOf(long k) {
        if (k < 0) throw new IllegalArgumentException("negative sequence number " + k);
        if (synthetic == 0) return new Corpus(k);
        long block = k / BLOCK;
        if (block != cachedBlock) {
            permutation = permutation(block);
            cachedBlock = block;
        }
        int slot = permutation[(int) (k % BLOCK)];
        if (slot >= synthetic) return new Corpus(block * (BLOCK - synthetic) + slot - synthetic);
        int kind = 0;
        while (slot >= starts[kind] + counts[kind]) kind++;
        return new Synthetic(kind, block * counts[kind] + slot - starts[kind]);
    }

    private int[] permutation(long block) {
        int[] p = new int[BLOCK];
        for (int i = 0; i < BLOCK; i++) p[i] = i;
        SplitMix64 rng = new SplitMix64(SplitMix64.derive(seed, MIX, block));
        for (int i = BLOCK - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
