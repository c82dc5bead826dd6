package gsat2r.core.distributed;

/**
 * The collective operations of one rank in a group of {@link #worldSize()} ranks (data-parallel
 * training: docs/distributed.md), over buffers of type {@code B}: {@code float[]} on the host (the
 * CPU backend, {@code gsat2r.finetune.distributed}), a device buffer for NCCL
 * ({@code gsat2r.gpu.nccl.NcclCollectives}). It lives in core so that both can implement it without the
 * GPU engine depending on the trainer.
 *
 * <p>Offsets and counts are in elements (fp32). Every rank must call the same operations, in the same
 * order, with the same counts (as with NCCL and MPI); a rank that does not is an error of the program.
 * A call returns when its result may be used by this rank's later work: on the host when it is
 * complete; on a GPU when it is queued on the rank's stream (work queued after it sees the result).
 *
 * <p>Sums: the host implementations add the ranks' values in rank order starting from zero,
 * {@code ((0 + x₀) + x₁) + …}, the order in which one process accumulates micro-batches, so that a
 * data-parallel step can equal a single-process one bit for bit; NCCL sums in the order of its ring or
 * tree (equal to rounding).
 */
public interface Collectives<B> {

    int rank();

    int worldSize();

    /** {@code buffer[offset, offset + count)} becomes the sum over the ranks of their {@code buffer[offset, offset + count)}. */
    void allReduceSum(B buffer, long offset, long count);

    /**
     * {@code recv[recvOffset, recvOffset + count)} of rank r becomes the sum over the ranks of their
     * {@code send[sendOffset + r·count, sendOffset + (r + 1)·count)}: the reduced vector of
     * {@code worldSize·count} elements, scattered in rank order.
     */
    void reduceScatterSum(B send, long sendOffset, B recv, long recvOffset, long count);

    /** {@code recv[recvOffset + r·count, recvOffset + (r + 1)·count)} becomes rank r's {@code send[sendOffset, sendOffset + count)}, for every r. */
    void allGather(B send, long sendOffset, B recv, long recvOffset, long count);

    /** {@code buffer[offset, offset + count)} becomes rank {@code root}'s. */
    void broadcast(B buffer, long offset, long count, int root);
}
