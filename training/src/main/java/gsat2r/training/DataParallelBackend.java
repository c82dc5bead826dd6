package gsat2r.training;

import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.training.distributed.ProcessGroup;

/**
 * A {@link TrainingBackend} that can train as one rank of a data-parallel group (docs/distributed.md).
 * Every rank holds the whole model; each runs its own micro-batches; the gradients are summed across
 * ranks at the end of each step; the optimizer state is sharded (ZeRO stage 1). After
 * {@link #joinDataParallel} the interface's methods keep their meaning for the whole group:
 * <ul>
 * <li>{@link #forwardBackward}: as before, local accumulation (no communication);</li>
 * <li>{@link #forwardBackwardAndReduce}: the step's LAST micro-batch: its backward also starts summing
 *     the step's accumulated gradients across ranks, bucket by bucket as they become final, so that
 *     communication overlaps the rest of the backward;</li>
 * <li>{@link #gradientNorm}: waits for that reduction; the norm of the summed gradients, the same on
 *     every rank;</li>
 * <li>{@link #optimizerStep}: each rank updates its shard of the flat trainable vector with its shard of
 *     the moments, then the ranks all-gather the parameters (all ranks hold the same weights again);</li>
 * <li>{@link #writeState}: collective: every rank calls it, rank 0 with the checkpoint's writer and the
 *     others with {@code null}; rank 0 writes the whole state, the gathered moments included, under the
 *     same names as a single process (so a checkpoint resumes on any number of ranks);</li>
 * <li>{@link #readState}: every rank reads the whole state and keeps the moments of its own shard.</li>
 * </ul>
 * Everything else ({@link #setTrainable}, {@link #mergeLora}, {@link #evaluate}, {@link #saveStudent})
 * is local: every rank computes the same thing. Calls that are collective must come in the same order
 * on every rank.
 */
public interface DataParallelBackend extends TrainingBackend {

    /** Makes this backend a rank of {@code group}; called once on every rank, right after opening, before {@link #setTrainable}. */
    void joinDataParallel(ProcessGroup group, DataParallelOptions options);

    /** {@link #forwardBackward} of the step's last micro-batch, which also starts the cross-rank reduction of the step's gradients. */
    LossSums forwardBackwardAndReduce(Objective objective, TokenBatch batch, double gradScale);

    /** Collective after {@link #joinDataParallel}: rank 0 passes the writer, the other ranks {@code null}. */
    @Override
    void writeState(TensorWriter out);
}
