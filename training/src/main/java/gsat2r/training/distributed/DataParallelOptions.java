package gsat2r.training.distributed;

/**
 * Tuning of data-parallel training: the gradient bucket cap ({@link BucketPlan}; PyTorch DDP's default
 * is 25 MiB: big enough that each reduction runs near link speed, small enough that the first bucket
 * is ready early in the backward) and the alignment of tensors, buckets and shards in the flat layout,
 * in fp32 elements ({@link FlatLayout}; 64 = 256 bytes), and the transport a device uses between its ranks
 * ({@code auto}, or one the device names, e.g. {@code nccl}, {@code host}). None changes the result, only the speed.
 */
public record DataParallelOptions(long bucketCapBytes, int alignment, String transport) {

    public static final long DEFAULT_BUCKET_CAP_BYTES = 25L << 20;
    public static final int DEFAULT_ALIGNMENT = 64;

    public DataParallelOptions {
        if (bucketCapBytes < 1) throw new IllegalArgumentException("bucket cap must be >= 1 byte");
        if (alignment < 1) throw new IllegalArgumentException("alignment must be >= 1");
        if (transport == null) transport = "auto";
    }

    public DataParallelOptions(long bucketCapBytes, int alignment) {
        this(bucketCapBytes, alignment, "auto");
    }

    public static DataParallelOptions defaults() {
        return new DataParallelOptions(DEFAULT_BUCKET_CAP_BYTES, DEFAULT_ALIGNMENT);
    }

    public DataParallelOptions withTransport(String t) {
        return new DataParallelOptions(bucketCapBytes, alignment, t);
    }
}
