package gsat2r.finetune.distributed;

import gsat2r.core.T2rException;

/**
 * Which training sequences each rank reads. The trainer's order of sequences (the k-th of the run is a
 * function of the seed and k, {@link gsat2r.core.data.SequenceOrder}) is split so that N ranks with
 * micro-batch b see, in micro-step j of a step, exactly the sequences that one process with micro-batch
 * N·b sees in its micro-batch j: rank r reads
 * <pre>
 *   [stepStart + j·N·b + r·b,  stepStart + j·N·b + (r + 1)·b)       j = 0 … gradAccum − 1
 * </pre>
 * The recipe's {@code batch} stays the global batch (what one optimizer step averages over, so the
 * learning rate keeps its meaning whatever N), {@code micro_batch} is per rank, and each rank
 * accumulates {@code gradAccum = batch / (N·b)} micro-batches. The same rule splits the validation
 * windows: group g of N·b windows, rank r its b of them (the last group may leave ranks empty).
 */
public record DataSplit(int world, int microBatch, int gradAccum) {

    public DataSplit {
        if (world < 1 || microBatch < 1 || gradAccum < 1) {
            throw new IllegalArgumentException("world " + world + ", micro-batch " + microBatch + ", accumulation " + gradAccum);
        }
    }

    /**
     * The split of a global {@code batch} with per-rank {@code microBatch} over {@code world} ranks;
     * {@code where} names the recipe for the message when batch is not a multiple of micro_batch × world.
     */
    public static DataSplit of(int batch, int microBatch, int world, String where) {
        long perMicroStep = (long) microBatch * world;
        if (batch % perMicroStep != 0) {
            StringBuilder fits = new StringBuilder();
            for (int b = 1; (long) b * world <= batch; b++) {
                if (batch % ((long) b * world) == 0) fits.append(fits.isEmpty() ? "" : ", ").append(b);
            }
            StringBuilder worlds = new StringBuilder();
            for (int n = 1, listed = 0; n <= batch && listed < 12; n++) {
                if (batch % n == 0) {
                    worlds.append(worlds.isEmpty() ? "" : ", ").append(n);
                    listed++;
                }
            }
            throw new T2rException(where + ": batch " + batch + " is not a multiple of micro_batch " + microBatch + " x " + world
                    + " ranks = " + perMicroStep + (fits.isEmpty() ? "; no micro_batch fits " + world + " ranks: use a number of ranks"
                    + " that divides the batch (" + worlds + ")" : "; micro_batch values that fit " + world + " ranks: " + fits));
        }
        return new DataSplit(world, microBatch, (int) (batch / perMicroStep));
    }

    /** Sequences per optimizer step over all ranks. */
    public long batch() {
        return (long) world * microBatch * gradAccum;
    }

    /** The first sequence (in the run's order) of rank {@code rank}'s micro-batch {@code microStep} of the step starting at {@code stepStart}. */
    public long firstSequence(long stepStart, int microStep, int rank) {
        if (microStep < 0 || microStep >= gradAccum) throw new IndexOutOfBoundsException("micro-step " + microStep + " of " + gradAccum);
        if (rank < 0 || rank >= world) throw new IndexOutOfBoundsException("rank " + rank + " of " + world);
        return stepStart + (long) microStep * world * microBatch + (long) rank * microBatch;
    }

    /** Groups of N·b validation windows that {@code windows} windows make (the last may be partial). */
    public long evalGroups(long windows) {
        long perGroup = (long) world * microBatch;
        return (windows + perGroup - 1) / perGroup;
    }

    /** Rank {@code rank}'s validation windows of group {@code group}: {@code [from, to)}, empty when from == to. */
    public long[] evalWindows(long windows, long group, int rank) {
        long from = Math.min(windows, group * world * microBatch + (long) rank * microBatch);
        long to = Math.min(windows, from + microBatch);
        return new long[] {from, to};
    }
}
