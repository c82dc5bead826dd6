package gsat2r.training.distributed;

import java.util.ArrayList;
import java.util.List;

/**
 * How a step's gradients are reduced across ranks: in buckets of whole tensors, each a contiguous range
 * of the {@link FlatLayout}, planned in the REVERSE order of the layout because backward produces the
 * gradients in that order (head, final norm, last layer, …, embeddings). Bucket 0 holds the last
 * tensors of the layout and is complete first; a backend reduces bucket k as soon as the gradients of
 * all its tensors are final, while backward goes on computing those below it, so that communication
 * overlaps computation (PyTorch DDP's design, with its default cap of 25 MiB).
 *
 * <p>Rules: a bucket holds whole tensors (a tensor is never split, so a bucket is complete exactly when
 * its lowest tensor is); tensors are added from the top while the bucket's span, padding included,
 * stays within {@code capElements}; a tensor larger than the cap gets a bucket of its own. Buckets
 * start and end on the layout's alignment, so they partition {@code [0, layout.size())}.
 */
public record BucketPlan(FlatLayout layout, long capElements, List<Bucket> buckets) {

    /**
     * Bucket {@code index} (0 first, launched first): tensors {@code [firstTensor, endTensor)} of the layout
     * and the flat range {@code [start, end)}, padding included.
     */
    public record Bucket(int index, int firstTensor, int endTensor, long start, long end) {
        public long length() {
            return end - start;
        }
    }

    public BucketPlan {
        buckets = List.copyOf(buckets);
    }

    /** Plans buckets of at most {@code capBytes} of fp32 gradients (at least one alignment unit). */
    public static BucketPlan plan(FlatLayout layout, long capBytes) {
        if (capBytes < 1) throw new IllegalArgumentException("bucket cap must be >= 1 byte, got " + capBytes);
        long cap = Math.max(layout.alignment(), capBytes / Float.BYTES);
        List<Bucket> buckets = new ArrayList<>();
        int n = layout.tensors();
        int end = n;                                   // tensors [t, end) form the bucket being built
        long spanEnd = layout.size();
        for (int t = n - 1; t >= 0; t--) {
            long start = layout.entry(t).offset();
            boolean empty = t == end - 1;
            if (!empty && spanEnd - start > cap) {     // tensor t does not fit: close [t + 1, end)
                long closedStart = layout.entry(t + 1).offset();
                buckets.add(new Bucket(buckets.size(), t + 1, end, closedStart, spanEnd));
                end = t + 1;
                spanEnd = closedStart;
            }
        }
        if (n > 0) buckets.add(new Bucket(buckets.size(), 0, end, 0, spanEnd));
        return new BucketPlan(layout, cap, buckets);
    }

    /**
     * How many buckets, counted from bucket 0, are complete once the gradients of tensors
     * {@code [firstFinalTensor, tensors)} are final: those whose first tensor is at or above it.
     */
    public int completeBuckets(int firstFinalTensor) {
        int k = 0;
        while (k < buckets.size() && buckets.get(k).firstTensor() >= firstFinalTensor) k++;
        return k;
    }
}
