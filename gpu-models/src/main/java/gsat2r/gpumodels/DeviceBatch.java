package gsat2r.gpumodels;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Embedding;

/**
 * The token ids of B sequences of T tokens on the device: inputs {@code [B·T]} (row {@code b·T + t}),
 * next-token targets (training batches), every token's position in its sequence (RoPE), and, made on
 * first use, the positions grouped by id that the deterministic embedding backward needs.
 */
final class DeviceBatch implements AutoCloseable {
    final int batch, seqLen, tokens;
    final int[] hostIds;
    private final Gpu gpu;
    private final int vocab;
    final DeviceBuffer ids, positions, targets;
    private DeviceBuffer order, starts, distinctIds;
    private int distinct;

    private DeviceBatch(Gpu gpu, int[] ids, int[] targets, int batch, int seqLen, int vocab) {
        this.gpu = gpu;
        this.batch = batch;
        this.seqLen = seqLen;
        this.tokens = batch * seqLen;
        this.vocab = vocab;
        this.hostIds = ids;
        int[] pos = new int[tokens];
        for (int i = 0; i < tokens; i++) pos[i] = i % seqLen;
        this.ids = gpu.upload(ids);
        this.positions = gpu.upload(pos);
        this.targets = targets == null ? null : gpu.upload(targets);
    }

    /** The inputs and targets of a training batch. */
    static DeviceBatch of(Gpu gpu, gsat2r.training.TokenBatch b, int vocab) {
        int B = b.sequences(), T = b.length();
        int[] ids = new int[B * T], targets = new int[B * T];
        for (int s = 0; s < B; s++) {
            System.arraycopy(b.tokens(), s * (T + 1), ids, s * T, T);
            System.arraycopy(b.tokens(), s * (T + 1) + 1, targets, s * T, T);
        }
        return new DeviceBatch(gpu, ids, targets, B, T, vocab);
    }

    /** Inputs only ({@code ids [B·T]}). */
    static DeviceBatch ofIds(Gpu gpu, int[] ids, int batch, int seqLen, int vocab) {
        return new DeviceBatch(gpu, ids, null, batch, seqLen, vocab);
    }

    /** Adds {@code dh [tokens, dim]} into the rows of {@code dtable} of the batch's ids, deterministically. */
    void embeddingBackward(DeviceBuffer dtable, DeviceBuffer dh, int dim) {
        if (order == null) {
            Embedding.SortedIds s = Embedding.SortedIds.of(hostIds, vocab);
            distinct = s.distinct();
            order = gpu.upload(s.order());
            starts = gpu.upload(s.starts());
            distinctIds = gpu.upload(s.ids());
        }
        if (distinct > 0) Embedding.backwardSorted(gpu, dtable, order, starts, distinctIds, distinct, dh, tokens, dim, vocab);
    }

    @Override
    public void close() {
        for (DeviceBuffer b : new DeviceBuffer[] {ids, positions, targets, order, starts, distinctIds}) if (b != null) b.close();
    }
}
