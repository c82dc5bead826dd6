package gsat2r.core.data;

/**
 * The order in which training reads windows: epoch after epoch, each a permutation of all windows
 * drawn by a Fisher–Yates shuffle from {@link SplitMix64} seeded with {@code derive(seed, EPOCH, epoch)}.
 * The k-th sequence of a run is therefore a pure function of (seed, window count, k): a resumed run
 * needs only the count of sequences already consumed to continue exactly.
 */
public final class SequenceOrder {

    /** The purpose tag of the epoch permutations in {@link SplitMix64#derive}. */
    public static final long EPOCH = 0x45504F4348L;         // "EPOCH"

    private final long seed;
    private final int windows;
    private long cachedEpoch = -1;
    private int[] permutation;

    public SequenceOrder(long seed, long windows) {
        if (windows <= 0) throw new IllegalArgumentException("no windows to order");
        if (windows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(windows + " windows; at most " + Integer.MAX_VALUE + " are supported (use a longer seq_len)");
        }
        this.seed = seed;
        this.windows = (int) windows;
    }

    public long windows() {
        return windows;
    }

    /** The window index of the k-th sequence (k counts from 0 over the whole run). */
    public long windowAt(long k) {
        if (k < 0) throw new IllegalArgumentException("negative sequence number " + k);
        long epoch = k / windows;
        if (epoch != cachedEpoch) {
            permutation = permutation(epoch);
            cachedEpoch = epoch;
        }
        return permutation[(int) (k % windows)];
    }

    /** Epoch of the k-th sequence. */
    public long epochOf(long k) {
        return k / windows;
    }

    private int[] permutation(long epoch) {
        int[] p = new int[windows];
        for (int i = 0; i < windows; i++) p[i] = i;
        SplitMix64 rng = new SplitMix64(SplitMix64.derive(seed, EPOCH, epoch));
        for (int i = windows - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
