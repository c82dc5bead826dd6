package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaEvent;
import gsat2r.gpu.cuda.CudaStream;
import gsat2r.gpu.nccl.Nccl;
import gsat2r.gpu.nccl.NcclCommunicator;
import gsat2r.gpu.nccl.NcclDataType;
import gsat2r.gpu.nccl.NcclRedOp;
import gsat2r.gpu.nccl.NcclUniqueId;

import java.util.function.Supplier;

/**
 * NCCL for {@link GradientTransport}: one communicator per group (its unique id made by rank 0 and handed
 * out over the process group), bucket all-reduces on a communication stream of their own so that they run
 * while the compute stream goes on with the backward. Each bucket is ordered after the kernels that wrote it
 * by an event recorded on the compute stream and waited for by the communication stream; the compute
 * stream waits for the last one before anything reads the sums. Nothing waits on the host.
 *
 * <p>The parameter all-gather runs on the compute stream itself: it comes after the optimizer's kernels and
 * before the next forward, with nothing to overlap.
 */
final class NcclTransport implements GradientTransport {

    private final Gpu gpu;
    private final NcclCommunicator comm;
    private final CudaStream commStream;
    private final CudaEvent gradientsWritten, sumsDone;
    private boolean launched;

    private NcclTransport(Gpu gpu, NcclCommunicator comm, CudaStream commStream, CudaEvent gradientsWritten, CudaEvent sumsDone) {
        this.gpu = gpu;
        this.comm = comm;
        this.commStream = commStream;
        this.gradientsWritten = gradientsWritten;
        this.sumsDone = sumsDone;
    }

    /** Collective: the communicator of {@code group} on {@code gpu}'s device (blocks until every rank has joined). */
    static NcclTransport join(Gpu gpu, ProcessGroup group) {
        NcclUniqueId id = exchangeUniqueId(group, Nccl::uniqueId);
        NcclCommunicator comm = NcclCommunicator.create(gpu.context(), group.worldSize(), group.rank(), id);
        CudaStream stream = null;
        CudaEvent a = null, b = null;
        try {
            stream = CudaStream.create(gpu.context());
            a = gpu.newEvent();
            b = gpu.newEvent();
            return new NcclTransport(gpu, comm, stream, a, b);
        } catch (RuntimeException e) {
            if (b != null) b.close();
            if (a != null) a.close();
            if (stream != null) stream.close();
            comm.close();
            throw e;
        }
    }

    /**
     * Collective: rank 0 makes the unique id ({@code create}, NCCL's ncclGetUniqueId: it holds rank 0's
     * bootstrap address), every rank receives it through the group's broadcast. A failure on rank 0 reaches
     * the others through the group, instead of leaving them waiting in ncclCommInitRank.
     */
    static NcclUniqueId exchangeUniqueId(ProcessGroup group, Supplier<NcclUniqueId> create) {
        byte[] mine = new byte[0];
        if (group.rank() == 0) {
            try {
                mine = create.get().bytes();
            } catch (RuntimeException e) {
                group.abort("rank 0 could not create the NCCL unique id: " + e.getMessage());
                throw e;
            }
        }
        byte[] id = group.broadcast(mine, 0);
        if (id.length != NcclUniqueId.BYTES) {
            throw new T2rException("rank " + group.rank() + " received an NCCL unique id of " + id.length + " bytes from rank 0, expected "
                    + NcclUniqueId.BYTES);
        }
        return new NcclUniqueId(id);
    }

    @Override
    public String name() {
        return "nccl";
    }

    @Override
    public void allReduceAsync(DeviceBuffer bucket) {
        gradientsWritten.record(gpu.stream());
        commStream.waitFor(gradientsWritten);     // waits for the record above: every gradient kernel queued before it
        comm.allReduce(bucket, bucket, bucket.length(), NcclDataType.FLOAT32, NcclRedOp.SUM, commStream);
        launched = true;
    }

    @Override
    public void awaitReductions() {
        if (!launched) return;
        sumsDone.record(commStream);
        gpu.stream().waitFor(sumsDone);
        launched = false;
        comm.checkAsyncError();
    }

    @Override
    public void allGather(DeviceBuffer flat, long shardSize) {
        DeviceBuffer mine = flat.view(comm.rank() * shardSize, shardSize);
        comm.allGather(mine, flat.view(0, comm.size() * shardSize), shardSize, NcclDataType.FLOAT32, gpu.stream());
    }

    @Override
    public void close() {
        try {
            commStream.synchronize();
            comm.close();
        } finally {
            sumsDone.close();
            gradientsWritten.close();
            commStream.close();
        }
    }
}
