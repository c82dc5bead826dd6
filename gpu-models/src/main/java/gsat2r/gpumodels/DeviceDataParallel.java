package gsat2r.gpumodels;

import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.StateNames;
import gsat2r.training.ParameterInfo;
import gsat2r.training.distributed.BucketPlan;
import gsat2r.training.distributed.BucketSchedule;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.training.distributed.FlatLayout;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.training.distributed.ShardLayout;
import gsat2r.training.distributed.TrainableAgreement;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.AdamW;
import gsat2r.gpu.ops.Convert;

import java.util.List;

/**
 * Data-parallel training on one GPU per rank (or several ranks on one GPU, with the host transport): the
 * device counterpart of {@code HostDataParallel}, with the same planning ({@link FlatLayout},
 * {@link BucketPlan}, {@link ShardLayout}, {@link BucketSchedule}) and the same arithmetic.
 *
 * <p>One device buffer {@link #flat} of {@code world·S} fp32 ({@link ShardLayout#paddedSize()}) laid out by
 * the {@link FlatLayout} of the trainable tensors serves every collective: during the last micro-batch's
 * backward each bucket's gradients are copied into it (on the compute stream, right after the kernels that
 * made them final) and summed there in place by the {@link GradientTransport}; when the norm asks, the sums
 * are copied back into the backend's gradient views. The optimizer step updates this rank's shard with the
 * moments of the shard only (ZeRO stage 1; same AdamW kernel, same per-element arithmetic as one process),
 * copies the updated shard into {@link #flat} and all-gathers it in place, then copies every tensor back
 * (refreshing its bf16 compute copy). Padding (the gaps between aligned tensors and the tail) stays zero in
 * the buffer and in the moments, so it sums and gathers as zero.
 */
final class DeviceDataParallel implements AutoCloseable {

    /**
     * A trainable tensor: {@code values} (fp32 master), its compute copy {@code work} (bf16, or null when the
     * master is what the kernels read) and {@code grad} (fp32): views of exactly {@code info.numel()} elements.
     */
    record Tensor(ParameterInfo info, DeviceBuffer values, DeviceBuffer work, DeviceBuffer grad) {}

    private final Gpu gpu;
    private final ProcessGroup group;
    private final DataParallelOptions options;
    private final GradientTransport transport;
    private List<Tensor> tensors = List.of();
    private FlatLayout layout;
    private BucketPlan plan;
    private ShardLayout shards;
    private List<ShardLayout.Piece> pieces = List.of();
    private long shardStart;
    private DeviceBuffer flat, m, v;
    private Reduction pending;

    DeviceDataParallel(Gpu gpu, ProcessGroup group, DataParallelOptions options, GradientTransport transport) {
        this.gpu = gpu;
        this.group = group;
        this.options = options;
        this.transport = transport;
        layout = FlatLayout.of(List.of(), options.alignment());
        plan = BucketPlan.plan(layout, options.bucketCapBytes());
        shards = ShardLayout.of(layout, group.worldSize());
    }

    String transportName() {
        return transport.name();
    }

    FlatLayout layout() {
        return layout;
    }

    BucketPlan plan() {
        return plan;
    }

    /**
     * The trainable tensors from now on, in the backend's buffer order (checked to be the same on every rank:
     * one small collective when the group has several), with zero moments for this rank's shard.
     */
    void setTrainable(List<Tensor> trainable) {
        if (pending != null) throw new IllegalStateException("a gradient reduction is still in flight");
        for (Tensor t : trainable) {
            long n = t.info().numel();
            if (t.values().length() != n || t.grad().length() != n || (t.work() != null && t.work().length() != n)) {
                throw new IllegalArgumentException(t.info() + ": views of " + t.values().length() + " / " + t.grad().length() + " elements");
            }
        }
        List<ParameterInfo> infos = trainable.stream().map(Tensor::info).toList();
        if (group.worldSize() > 1) TrainableAgreement.require(group, infos);
        releaseBuffers();
        tensors = List.copyOf(trainable);
        layout = FlatLayout.of(infos, options.alignment());
        plan = BucketPlan.plan(layout, options.bucketCapBytes());
        shards = ShardLayout.of(layout, group.worldSize());
        pieces = shards.pieces(layout, group.rank());
        shardStart = shards.start(group.rank());
        if (layout.size() == 0) return;
        flat = gpu.f32(shards.paddedSize());
        flat.zero();
        long shardLength = Math.max(1, shards.length(group.rank()));   // an empty shard still gets a (zero) element: buffers are never empty
        m = gpu.f32(shardLength);
        v = gpu.f32(shardLength);
        m.zero();
        v.zero();
    }

    /** Forgets the trainable tensors without a collective (their storage is going away, e.g. merged LoRA adapters). */
    void clear() {
        pending = null;
        releaseBuffers();
        tensors = List.of();
        layout = FlatLayout.of(List.of(), options.alignment());
        plan = BucketPlan.plan(layout, options.bucketCapBytes());
        shards = ShardLayout.of(layout, group.worldSize());
        pieces = List.of();
    }

    private void releaseBuffers() {
        for (DeviceBuffer b : new DeviceBuffer[] {flat, m, v}) if (b != null) b.close();
        flat = m = v = null;
    }

    // ------------------------------------------------------------------ gradient reduction

    /** Starts the reduction of this step's gradients (before the backward of the step's last micro-batch). */
    Reduction startReduction() {
        if (pending != null) throw new IllegalStateException("the previous gradient reduction was not awaited");
        pending = new Reduction();
        return pending;
    }

    /** One step's reduction: buckets go out as the backward reports its gradients final ({@link BucketSchedule}). */
    final class Reduction {
        private final BucketSchedule schedule = new BucketSchedule(plan, this::launch);

        /** The gradients of tensors {@code [firstFinalTensor, tensors)} are final (their kernels are queued). */
        void gradientsFinalFrom(int firstFinalTensor) {
            schedule.gradientsFinalFrom(firstFinalTensor);
        }

        /** The backward is over: the remaining buckets go out. */
        void finishBackward() {
            schedule.finishBackward();
        }

        int[] launchWatermarks() {
            return schedule.launchWatermarks();
        }

        private void launch(int k) {
            BucketPlan.Bucket b = plan.buckets().get(k);
            for (int t = b.firstTensor(); t < b.endTensor(); t++) {
                FlatLayout.Entry e = layout.entry(t);
                flat.view(e.offset(), e.numel()).copyFrom(tensors.get(t).grad());
            }
            transport.allReduceAsync(flat.view(b.start(), b.length()));
        }
    }

    /** The reduction in flight, if any (for tests). */
    Reduction pendingReduction() {
        return pending;
    }

    /**
     * Waits for the step's reduction (if one is in flight) and puts the sums into the tensors' gradients:
     * every rank then holds the step's whole gradient, identical on all ranks.
     */
    void awaitReduction() {
        if (pending == null) return;
        Reduction r = pending;
        pending = null;
        r.finishBackward();
        transport.awaitReductions();
        for (int t = 0; t < tensors.size(); t++) {
            FlatLayout.Entry e = layout.entry(t);
            tensors.get(t).grad().copyFrom(flat.view(e.offset(), e.numel()));
        }
    }

    // ------------------------------------------------------------------ sharded AdamW

    /**
     * AdamW on this rank's shard (its pieces of the tensors, moments of the shard), then the all-gather of
     * the parameters. {@code gradScale}: the clip factor on the device. The caller zeroes the gradients.
     */
    void optimizerStep(AdamWStep step, DeviceBuffer gradScale) {
        if (pending != null) throw new IllegalStateException("the gradients are not summed yet: call gradientNorm first");
        for (ShardLayout.Piece p : pieces) {
            Tensor t = tensors.get(p.tensor());
            long at = p.tensorOffset(), n = p.length(), s = p.flatOffset() - shardStart;
            AdamW.step(gpu, CudaOptimizer.hyper(step, t.info()), step.step(), t.values().view(at, n), t.work() == null ? null : t.work().view(at, n), t.grad().view(at, n),
                    m.view(s, n), v.view(s, n), gradScale);
        }
        if (layout.size() == 0) return;
        for (ShardLayout.Piece p : pieces) {
            flat.view(p.flatOffset(), p.length()).copyFrom(tensors.get(p.tensor()).values().view(p.tensorOffset(), p.length()));
        }
        transport.allGather(flat, shards.shardSize());
        for (int t = 0; t < tensors.size(); t++) {
            Tensor x = tensors.get(t);
            FlatLayout.Entry e = layout.entry(t);
            x.values().copyFrom(flat.view(e.offset(), e.numel()));
            if (x.work() != null) Convert.toBf16(gpu, x.work(), x.values(), e.numel());
        }
    }

    // ------------------------------------------------------------------ state

    /**
     * Collective: gathers every shard's moments and, where {@code out} is not null (rank 0), writes
     * {@code adam_m/<name>}, {@code adam_v/<name>} of every tensor in order, as one process writes them.
     */
    void writeMoments(TensorWriter out) {
        if (layout.size() == 0) return;
        long S = shards.shardSize(), length = shards.length(group.rank());
        try (DeviceBuffer fullV = gpu.f32(shards.paddedSize())) {
            fullV.zero();
            if (length > 0) {
                flat.view(shardStart, length).copyFrom(m.view(0, length));
                fullV.view(shardStart, length).copyFrom(v.view(0, length));
            }
            transport.allGather(flat, S);
            transport.allGather(fullV, S);
            if (out == null) return;
            for (int t = 0; t < tensors.size(); t++) {
                FlatLayout.Entry e = layout.entry(t);
                String name = tensors.get(t).info().name();
                out.write(StateNames.adamM(name), flat.view(e.offset(), e.numel()).toFloatArray());
                out.write(StateNames.adamV(name), fullV.view(e.offset(), e.numel()).toFloatArray());
            }
        }
    }

    /** Takes this rank's shard of the moments from a whole state (written by any number of ranks). */
    void readMoments(SafeTensors in) {
        if (m == null) return;
        m.zero();
        v.zero();
        for (ShardLayout.Piece p : pieces) {
            ParameterInfo info = tensors.get(p.tensor()).info();
            for (boolean first : new boolean[] {true, false}) {
                String name = (first ? StateNames.ADAM_M : StateNames.ADAM_V) + info.name();
                in.expect(name, info.shape());
                (first ? m : v).copyFrom(in.floats(name), (int) p.tensorOffset(), p.flatOffset() - shardStart, (int) p.length());
            }
        }
    }

    /** Device bytes of this rank's moments. */
    long momentBytes() {
        return m == null ? 0 : m.byteSize() + v.byteSize();
    }

    @Override
    public void close() {
        try {
            transport.close();
        } finally {
            releaseBuffers();
        }
    }
}
