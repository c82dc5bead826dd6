package gsat2r.cputrain;

import gsat2r.training.distributed.BucketSchedule;
import gsat2r.training.distributed.CommunicationThread;
import gsat2r.training.distributed.BucketPlan;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.training.distributed.FlatLayout;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.training.distributed.ShardLayout;
import gsat2r.training.distributed.TrainableAgreement;
import gsat2r.core.distributed.Collectives;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.StateNames;
import gsat2r.training.ParameterInfo;
import gsat2r.training.optim.AdamW;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Data-parallel training for backends whose trainable tensors are host {@code float[]} arrays (the
 * CPU backend): gradient reduction in buckets overlapped with the backward, and AdamW with the
 * optimizer state sharded across ranks (ZeRO stage 1), over a {@link ProcessGroup}.
 *
 * <p>A step, on every rank:
 * <ol>
 * <li>The backend accumulates its micro-batches locally. For the last one it calls
 *     {@link #startReduction()} and, while its backward runs, {@link Reduction#gradientsFinalFrom} each
 *     time the gradients of the tensors from some index up are final; every bucket
 *     ({@link BucketPlan}, reverse layout order) that this completes is copied out and its all-reduce
 *     queued on the group's communication thread, where it runs while the backward goes on.
 *     {@link Reduction#finishBackward} queues the rest.</li>
 * <li>{@link #gradientNorm()} waits for the buckets, writes the sums back into the gradients (every rank
 *     now holds the step's whole gradient) and returns their norm, summed in fp64 in tensor order,
 *     exactly as a single process computes it.</li>
 * <li>{@link #optimizerStep} runs AdamW on this rank's shard ({@link ShardLayout}) with the moments of
 *     the shard only, zeroes the gradients, and all-gathers the parameters.</li>
 * </ol>
 * Sums over ranks are in rank order from zero ({@link HostCollectives}), the order in which one process
 * accumulates micro-batches: with one micro-batch per rank and step, N ranks give the bits of one
 * process accumulating the same N micro-batches in rank order.
 */
public final class HostDataParallel {

    /** A trainable tensor: its values at {@code values[offset, offset + numel)}, its gradient at the same place of {@code grad}. */
    public record Tensor(ParameterInfo info, float[] values, float[] grad, int offset) {
        public Tensor {
            if (offset < 0 || offset + info.numel() > values.length || offset + info.numel() > grad.length) {
                throw new IllegalArgumentException(info + " at " + offset + " does not fit its arrays");
            }
        }
    }

    private final ProcessGroup group;
    private final Collectives<float[]> collectives;
    private final DataParallelOptions options;
    private List<Tensor> tensors = List.of();
    private FlatLayout layout = FlatLayout.of(List.of(), 1);
    private BucketPlan plan;
    private ShardLayout shards;
    private List<ShardLayout.Piece> pieces = List.of();
    private long shardStart;
    private float[] m = new float[0], v = new float[0];
    private float[][] bucketBuffers = new float[0][];
    private Reduction pending;

    public HostDataParallel(ProcessGroup group, DataParallelOptions options) {
        this.group = group;
        this.collectives = group.floats();
        this.options = options;
        setTrainable(List.of());
    }

    public ProcessGroup group() {
        return group;
    }

    public FlatLayout layout() {
        return layout;
    }

    public BucketPlan plan() {
        return plan;
    }

    public ShardLayout shards() {
        return shards;
    }

    /**
     * The trainable tensors from now on, in the backend's order (the same on every rank: checked, one
     * small collective), with fresh zero moments for this rank's shard.
     */
    public void setTrainable(List<Tensor> trainable) {
        if (pending != null) throw new IllegalStateException("a gradient reduction is still in flight");
        List<ParameterInfo> infos = trainable.stream().map(Tensor::info).toList();
        FlatLayout next = FlatLayout.of(infos, options.alignment());
        if (group.worldSize() > 1) TrainableAgreement.require(group, infos);
        tensors = List.copyOf(trainable);
        layout = next;
        plan = BucketPlan.plan(layout, options.bucketCapBytes());
        shards = ShardLayout.of(layout, group.worldSize());
        pieces = shards.pieces(layout, group.rank());
        shardStart = shards.start(group.rank());
        int shardLength = Math.toIntExact(shards.length(group.rank()));
        m = new float[shardLength];
        v = new float[shardLength];
        bucketBuffers = new float[plan.buckets().size()][];
        for (BucketPlan.Bucket b : plan.buckets()) bucketBuffers[b.index()] = new float[Math.toIntExact(b.length())];
    }

    // ------------------------------------------------------------------ gradient reduction

    /** {@link Reduction#launchWatermarks()} of a bucket that {@link Reduction#finishBackward()} sent, and of one not sent yet. */
    public static final int AT_THE_END = BucketSchedule.AT_THE_END, NOT_LAUNCHED = BucketSchedule.NOT_LAUNCHED;

    /** Starts the reduction of this step's gradients (call before the backward of the step's last micro-batch). */
    public Reduction startReduction() {
        if (pending != null) throw new IllegalStateException("the previous gradient reduction was not awaited");
        pending = new Reduction();
        return pending;
    }

    /** The reduction of one step's gradients, bucket by bucket, in plan order ({@link BucketSchedule}). */
    public final class Reduction {
        private final List<CompletableFuture<Void>> launched = new ArrayList<>();
        private final BucketSchedule schedule = new BucketSchedule(plan, this::launch);

        private Reduction() {}

        /** The gradients of tensors {@code [firstFinalTensor, tensors)} are final: launches the buckets this completes. */
        public void gradientsFinalFrom(int firstFinalTensor) {
            schedule.gradientsFinalFrom(firstFinalTensor);
        }

        /** The backward is over: launches every bucket not launched yet. */
        public void finishBackward() {
            schedule.finishBackward();
        }

        /** Copies bucket {@code k}'s gradients out and queues its all-reduce on the communication thread. */
        private void launch(int k) {
            BucketPlan.Bucket b = plan.buckets().get(k);
            float[] buffer = bucketBuffers[b.index()];
            for (int t = b.firstTensor(); t < b.endTensor(); t++) {
                Tensor x = tensors.get(t);
                FlatLayout.Entry e = layout.entry(t);
                System.arraycopy(x.grad(), x.offset(), buffer, (int) (e.offset() - b.start()), (int) e.numel());
            }
            launched.add(group.async(() -> {
                collectives.allReduceSum(buffer, 0, buffer.length);
                return null;
            }));
        }

        /**
         * Per bucket, the first-final-tensor index that launched it during the backward, {@link #AT_THE_END}
         * when {@link #finishBackward} did, {@link #NOT_LAUNCHED} when it has not gone out yet.
         */
        public int[] launchWatermarks() {
            return schedule.launchWatermarks();
        }

        private void await() {
            finishBackward();
            for (int k = 0; k < launched.size(); k++) {
                CommunicationThread.await(launched.get(k));
                BucketPlan.Bucket b = plan.buckets().get(k);
                float[] buffer = bucketBuffers[k];
                for (int t = b.firstTensor(); t < b.endTensor(); t++) {
                    Tensor x = tensors.get(t);
                    FlatLayout.Entry e = layout.entry(t);
                    System.arraycopy(buffer, (int) (e.offset() - b.start()), x.grad(), x.offset(), (int) e.numel());
                }
            }
        }
    }

    /** The reduction of the step in flight, if any (for tests). */
    public Reduction pendingReduction() {
        return pending;
    }

    private void awaitReduction() {
        if (pending == null) throw new IllegalStateException("no gradient reduction this step: the last micro-batch must run forwardBackwardAndReduce");
        Reduction r = pending;
        pending = null;
        r.await();
    }

    /** Waits for the reduction; the global L2 norm of the summed gradients (fp64, tensor order: as one process). */
    public double gradientNorm() {
        if (pending != null) awaitReduction();
        double s = 0;
        for (Tensor t : tensors) {
            float[] g = t.grad();
            int end = t.offset() + (int) t.info().numel();
            for (int i = t.offset(); i < end; i++) s += (double) g[i] * g[i];
        }
        return Math.sqrt(s);
    }

    // ------------------------------------------------------------------ sharded AdamW

    /** AdamW on this rank's shard, then zero gradients and all-gather the parameters. */
    public void optimizerStep(AdamWStep step) {
        if (pending != null) awaitReduction();
        for (ShardLayout.Piece p : pieces) {
            Tensor t = tensors.get(p.tensor());
            int at = t.offset() + (int) p.tensorOffset();
            AdamW.update(t.values(), at, t.grad(), at, m, v, (int) (p.flatOffset() - shardStart), (int) p.length(),
                    step.of(t.info()), step.weightDecayOf(t.info()));
        }
        for (Tensor t : tensors) Arrays.fill(t.grad(), t.offset(), t.offset() + (int) t.info().numel(), 0f);
        if (layout.size() == 0) return;
        float[] full = gather(this::valuesOfShard);
        for (int t = 0; t < tensors.size(); t++) {
            Tensor x = tensors.get(t);
            System.arraycopy(full, (int) layout.entry(t).offset(), x.values(), x.offset(), (int) x.info().numel());
        }
    }

    private float[] valuesOfShard() {
        float[] send = new float[Math.toIntExact(shards.shardSize())];
        for (ShardLayout.Piece p : pieces) {
            Tensor t = tensors.get(p.tensor());
            System.arraycopy(t.values(), t.offset() + (int) p.tensorOffset(), send, (int) (p.flatOffset() - shardStart), (int) p.length());
        }
        return send;
    }

    /** All-gathers every rank's shard (padded to the shard size): the whole flat vector on every rank. */
    private float[] gather(java.util.function.Supplier<float[]> shardOfMine) {
        float[] send = shardOfMine.get();
        float[] full = new float[Math.toIntExact(shards.paddedSize())];
        collectives.allGather(send, 0, full, 0, shards.shardSize());
        return full;
    }

    private float[] padded(float[] shard) {
        return Arrays.copyOf(shard, Math.toIntExact(shards.shardSize()));
    }

    // ------------------------------------------------------------------ state

    /**
     * Collective: gathers the moments of every shard and, where {@code out} is not null (rank 0), writes
     * {@code adam_m/<name>} and {@code adam_v/<name>} of every tensor in order, as one process writes them.
     */
    public void writeMoments(TensorWriter out) {
        float[] fullM = layout.size() == 0 ? new float[0] : gather(() -> padded(m));
        float[] fullV = layout.size() == 0 ? new float[0] : gather(() -> padded(v));
        if (out == null) return;
        for (int t = 0; t < tensors.size(); t++) {
            FlatLayout.Entry e = layout.entry(t);
            String name = tensors.get(t).info().name();
            out.write(StateNames.adamM(name), sink -> sink.putFloats(fullM, (int) e.offset(), (int) e.numel()));
            out.write(StateNames.adamV(name), sink -> sink.putFloats(fullV, (int) e.offset(), (int) e.numel()));
        }
    }

    /** Takes this rank's shard of the moments from a whole state (written with any number of ranks). */
    public void readMoments(SafeTensors in) {
        for (ShardLayout.Piece p : pieces) {
            Tensor t = tensors.get(p.tensor());
            for (String kind : new String[] {StateNames.ADAM_M, StateNames.ADAM_V}) {
                String name = kind + t.info().name();
                in.expect(name, t.info().shape());
                float[] all = in.floats(name);
                System.arraycopy(all, (int) p.tensorOffset(), kind.equals(StateNames.ADAM_M) ? m : v, (int) (p.flatOffset() - shardStart), (int) p.length());
            }
        }
    }
}
