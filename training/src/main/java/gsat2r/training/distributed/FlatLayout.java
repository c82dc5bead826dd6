package gsat2r.training.distributed;

import gsat2r.training.ParameterInfo;

import java.util.ArrayList;
import java.util.List;

/**
 * The trainable tensors of a stage laid end to end in one flat fp32 vector, the space that gradient
 * buckets ({@link BucketPlan}) and optimizer shards ({@link ShardLayout}) address. Tensor i starts at
 * {@code entries[i].offset}, a multiple of {@code alignment} elements, and the gaps and the tail up to
 * {@link #size()} (a multiple of {@code alignment}) are padding, zero in every bucket.
 *
 * <p>Why aligned: a GPU backend keeps its gradients in one flat buffer laid out like this, and bucket
 * and shard boundaries that fall on 256-byte boundaries (64 fp32, the default) keep every view of it
 * 16-byte aligned for vectorised kernels and NCCL. The order is the backend's order of its trainable
 * tensors ({@link gsat2r.training.TrainingBackend#setTrainable}), for the GSA student the
 * order of its parameter buffer: embeddings, layer 0 … L−1, final norm, head.
 */
public record FlatLayout(List<Entry> entries, long size, int alignment) {

    /** Tensor {@code name} of {@code numel} elements at {@code [offset, offset + numel)}. */
    public record Entry(String name, long numel, long offset) {
        public long end() {
            return offset + numel;
        }
    }

    public FlatLayout {
        entries = List.copyOf(entries);
        if (alignment < 1) throw new IllegalArgumentException("alignment must be >= 1, got " + alignment);
    }

    public static FlatLayout of(List<ParameterInfo> tensors, int alignment) {
        if (alignment < 1) throw new IllegalArgumentException("alignment must be >= 1, got " + alignment);
        List<Entry> entries = new ArrayList<>(tensors.size());
        long offset = 0;
        for (ParameterInfo t : tensors) {
            entries.add(new Entry(t.name(), t.numel(), offset));
            offset = roundUp(offset + t.numel(), alignment);
        }
        return new FlatLayout(entries, offset, alignment);
    }

    public int tensors() {
        return entries.size();
    }

    public Entry entry(int i) {
        return entries.get(i);
    }

    /** The number of real (not padding) elements. */
    public long elements() {
        return entries.stream().mapToLong(Entry::numel).sum();
    }

    static long roundUp(long x, long multiple) {
        return (x + multiple - 1) / multiple * multiple;
    }
}
