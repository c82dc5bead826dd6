package gsat2r.training.distributed;

import gsat2r.core.distributed.Collectives;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * The processes (or threads) of one data-parallel run, seen from one of them: its rank, the world
 * size, and collective exchanges on the host. It is the run's control plane (the trainer's loss sums,
 * barriers, the NCCL unique id) and, for the CPU backend, also the data plane ({@link #floats()}).
 *
 * <p>Every operation is collective: all ranks call the same operations in the same order. They run on
 * one communication thread per rank, in the order they were issued, so that an asynchronous operation
 * ({@link #async}, how a backend overlaps its gradient reduction with the backward) and the
 * synchronous ones issued after it never overtake each other and every rank sees the same sequence.
 *
 * <p>Failure: a rank that fails calls {@link #abort}; the other ranks' pending and later operations
 * then fail with a one-line message naming it and its reason, instead of waiting forever. An operation
 * that waits longer than the group's timeout for the others fails the same way.
 */
public interface ProcessGroup extends AutoCloseable {

    /** The group of a single process (rank 0 of 1): collectives return at once. */
    static ProcessGroup single() {
        return SingleProcess.INSTANCE;
    }

    int rank();

    int worldSize();

    /** Every rank's bytes, in rank order; lengths may differ. */
    List<byte[]> allGather(byte[] mine);

    /**
     * Every rank's floats, in rank order; lengths may differ. {@code mine} must not change afterwards:
     * an in-process group hands the same array to the other ranks.
     */
    List<float[]> allGatherFloats(float[] mine);

    /**
     * Runs {@code op} on this rank's communication thread after every operation issued before it; the
     * synchronous operations issued after it wait for it. {@code op} may call this group's operations.
     */
    <T> CompletableFuture<T> async(Supplier<T> op);

    /** Returns when every rank has called it. */
    default void barrier() {
        allGather(new byte[0]);
    }

    /** Rank {@code root}'s bytes, on every rank ({@code data} is ignored on the others). */
    default byte[] broadcast(byte[] data, int root) {
        return allGather(rank() == root ? data : new byte[0]).get(root);
    }

    /** The host-array collectives over this group (sums in rank order, see {@link HostCollectives}). */
    default Collectives<float[]> floats() {
        return new HostCollectives(this);
    }

    /** Tells the other ranks that this one failed with {@code reason}; their operations stop with it. Idempotent. */
    void abort(String reason);

    /** Releases the connections and the communication thread. */
    @Override
    void close();
}
