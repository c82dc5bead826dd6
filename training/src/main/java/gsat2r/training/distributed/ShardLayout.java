package gsat2r.training.distributed;

import java.util.ArrayList;
import java.util.List;

/**
 * ZeRO stage 1: the optimizer state is partitioned across the ranks. Rank r owns the contiguous range
 * {@code [r·S, (r + 1)·S)} of the {@link FlatLayout} (clipped to its size; the last ranks' shards may be
 * short or empty), keeps the AdamW moments of that range only, updates those parameters, and the ranks
 * then all-gather the parameters. S, the shard size, is {@code ⌈size / world⌉} rounded up to the
 * alignment, so that every shard starts aligned and an all-gather of equal pieces of S elements
 * (NCCL's contract) covers the layout: {@link #paddedSize()} = world·S ≥ size.
 *
 * <p>Checkpoints hold the whole state under the tensors' names (as a single process writes it), so a
 * run resumes on any number of ranks: each rank reads the {@link #pieces} of its new shard.
 */
public record ShardLayout(long size, int world, int alignment, long shardSize) {

    /** The part of tensor {@code tensor} at {@code [tensorOffset, tensorOffset + length)} of it, at {@code flatOffset} of the layout. */
    public record Piece(int tensor, long tensorOffset, long flatOffset, long length) {}

    public static ShardLayout of(FlatLayout layout, int world) {
        if (world < 1) throw new IllegalArgumentException("world size must be >= 1, got " + world);
        long perRank = (layout.size() + world - 1) / world;
        return new ShardLayout(layout.size(), world, layout.alignment(), FlatLayout.roundUp(perRank, layout.alignment()));
    }

    public long start(int rank) {
        checkRank(rank);
        return Math.min((long) rank * shardSize, size);
    }

    public long end(int rank) {
        checkRank(rank);
        return Math.min((long) (rank + 1) * shardSize, size);
    }

    /** The elements rank {@code rank} owns (padding included). */
    public long length(int rank) {
        return end(rank) - start(rank);
    }

    /** {@code world·shardSize}: what an all-gather of the shards fills. */
    public long paddedSize() {
        return (long) world * shardSize;
    }

    /** The rank that owns flat element {@code index}. */
    public int owner(long index) {
        if (index < 0 || index >= size) throw new IndexOutOfBoundsException("element " + index + " of " + size);
        return (int) (index / shardSize);
    }

    /** The tensor pieces inside rank {@code rank}'s shard, in layout order (padding excluded). */
    public List<Piece> pieces(FlatLayout layout, int rank) {
        if (layout.size() != size) throw new IllegalArgumentException("layout of " + layout.size() + " elements for shards of " + size);
        long lo = start(rank), hi = end(rank);
        List<Piece> out = new ArrayList<>();
        for (int t = 0; t < layout.tensors(); t++) {
            FlatLayout.Entry e = layout.entry(t);
            long a = Math.max(lo, e.offset()), b = Math.min(hi, e.end());
            if (a < b) out.add(new Piece(t, a - e.offset(), a, b - a));
        }
        return out;
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= world) throw new IndexOutOfBoundsException("rank " + rank + " of " + world);
    }
}
