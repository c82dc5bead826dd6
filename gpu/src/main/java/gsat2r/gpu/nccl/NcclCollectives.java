package gsat2r.gpu.nccl;

import gsat2r.core.distributed.Collectives;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.cuda.CudaStream;

/**
 * {@link Collectives} over device buffers through an {@link NcclCommunicator}, queued on one CUDA
 * stream (a backend's communication stream, so that reductions overlap its compute stream; order the
 * two with events). Buffers are F32 or BF16 ({@link DeviceBuffer#type()}); offsets and counts are in
 * elements. Sums are NCCL's (ring or tree order): equal to the host implementations to rounding.
 */
public final class NcclCollectives implements Collectives<DeviceBuffer> {

    private final NcclCommunicator comm;
    private final CudaStream stream;

    public NcclCollectives(NcclCommunicator comm, CudaStream stream) {
        this.comm = comm;
        this.stream = stream;
    }

    public NcclCommunicator communicator() {
        return comm;
    }

    @Override
    public int rank() {
        return comm.rank();
    }

    @Override
    public int worldSize() {
        return comm.size();
    }

    @Override
    public void allReduceSum(DeviceBuffer buffer, long offset, long count) {
        DeviceBuffer v = view(buffer, offset, count);
        comm.allReduce(v, v, count, type(buffer), NcclRedOp.SUM, stream);
    }

    @Override
    public void reduceScatterSum(DeviceBuffer send, long sendOffset, DeviceBuffer recv, long recvOffset, long count) {
        requireSameType(send, recv);
        comm.reduceScatter(view(send, sendOffset, count * worldSize()), view(recv, recvOffset, count), count, type(send), NcclRedOp.SUM, stream);
    }

    @Override
    public void allGather(DeviceBuffer send, long sendOffset, DeviceBuffer recv, long recvOffset, long count) {
        requireSameType(send, recv);
        comm.allGather(view(send, sendOffset, count), view(recv, recvOffset, count * worldSize()), count, type(send), stream);
    }

    @Override
    public void broadcast(DeviceBuffer buffer, long offset, long count, int root) {
        if (root < 0 || root >= worldSize()) throw new IndexOutOfBoundsException("root " + root + " of " + worldSize());
        DeviceBuffer v = view(buffer, offset, count);
        comm.broadcast(v, v, count, type(buffer), root, stream);
    }

    private static DeviceBuffer view(DeviceBuffer b, long offset, long count) {
        if (count == 0) {
            if (offset < 0 || offset > b.length()) throw new IndexOutOfBoundsException("offset " + offset + " of " + b.length());
            return b;
        }
        return b.view(offset, count);
    }

    private static NcclDataType type(DeviceBuffer b) {
        return switch (b.type()) {
            case F32 -> NcclDataType.FLOAT32;
            case BF16 -> NcclDataType.BFLOAT16;
            case I32 -> throw new IllegalArgumentException("collectives sum floats; this buffer holds I32");
        };
    }

    private static void requireSameType(DeviceBuffer a, DeviceBuffer b) {
        if (a.type() != b.type()) throw new IllegalArgumentException("send is " + a.type() + ", recv " + b.type());
    }
}
