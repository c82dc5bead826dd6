package gsat2r.training.distributed;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * When each bucket of one step's gradient reduction goes out: the bookkeeping that the host
 * ({@link HostDataParallel}) and the CUDA backend share, whatever moves the bytes. The backward reports
 * {@link #gradientsFinalFrom} as the gradients become final from the top of the layout down; every bucket
 * ({@link BucketPlan}, reverse layout order) that this completes is handed to {@code launch}, in plan order
 * and once; {@link #finishBackward} hands over the rest.
 */
public final class BucketSchedule {

    /** {@link #launchWatermarks()} of a bucket that {@link #finishBackward()} launched, and of one not launched yet. */
    public static final int AT_THE_END = -1, NOT_LAUNCHED = -2;

    private final BucketPlan plan;
    private final IntConsumer launch;
    private final int[] launchWatermarks;
    private int launched;
    private boolean backwardOver;

    /** {@code launch} receives bucket indices 0, 1, … of {@code plan}, each once. */
    public BucketSchedule(BucketPlan plan, IntConsumer launch) {
        this.plan = plan;
        this.launch = launch;
        this.launchWatermarks = new int[plan.buckets().size()];
        Arrays.fill(launchWatermarks, NOT_LAUNCHED);
    }

    /** The gradients of tensors {@code [firstFinalTensor, tensors)} are final: launches the buckets this completes. */
    public void gradientsFinalFrom(int firstFinalTensor) {
        if (backwardOver) throw new IllegalStateException("the backward is already over");
        launchUpTo(plan.completeBuckets(firstFinalTensor), firstFinalTensor);
    }

    /** The backward is over: launches every bucket not launched yet. Idempotent. */
    public void finishBackward() {
        if (backwardOver) return;
        launchUpTo(plan.buckets().size(), AT_THE_END);
        backwardOver = true;
    }

    private void launchUpTo(int count, int watermark) {
        while (launched < count) {
            launchWatermarks[launched] = watermark;
            launch.accept(launched++);
        }
    }

    /** How many buckets went out so far (buckets {@code [0, launched)}). */
    public int launched() {
        return launched;
    }

    public boolean backwardOver() {
        return backwardOver;
    }

    /**
     * Per bucket, the first-final-tensor index that launched it during the backward, {@link #AT_THE_END}
     * when {@link #finishBackward} did, {@link #NOT_LAUNCHED} when it has not gone out yet.
     */
    public int[] launchWatermarks() {
        return launchWatermarks.clone();
    }

    /**
     * The index of the first tensor whose storage starts at or above {@code offset}, for tensors at
     * ascending {@code offsets} of a backend's buffer: how a backward's "final from buffer offset x" becomes
     * {@link #gradientsFinalFrom}'s tensor index.
     */
    public static int firstTensorAtOrAbove(long[] offsets, long offset) {
        int i = 0;
        while (i < offsets.length && offsets[i] < offset) i++;
        return i;
    }
}
