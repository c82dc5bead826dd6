package gsat2r.gpu.nccl;

import static gsat2r.gpu.nccl.NcclLibrary.check;
import static gsat2r.gpu.nccl.NcclLibrary.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import gsat2r.gpu.cuda.CudaContext;
import gsat2r.gpu.cuda.CudaStream;
import gsat2r.gpu.cuda.DevicePointer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * One rank's NCCL communicator ({@code ncclComm_t}) on one GPU. Collectives are queued on a CUDA stream
 * and return at once (work queued after them on that stream sees their result); every call is checked,
 * and a failure is a one-line {@link NcclException} naming the operation, the rank and NCCL's reason.
 * Errors that happen later, on the GPU or in NCCL's proxy threads (a peer died, a network timeout),
 * surface through {@link #asyncError()}; after one, {@link #abort()} the communicator rather than
 * {@link #close()} it (destroying waits for pending work, which may never finish).
 *
 * <p>The CUDA context of {@link #context()} is made current on the calling thread before each call, as
 * NCCL works on the current device.
 */
public final class NcclCommunicator implements AutoCloseable {

    private final CudaContext context;          // null only for the fake-library test (no CUDA)
    private final MemorySegment comm;
    private final int rank, size;
    private boolean closed;

    private NcclCommunicator(CudaContext context, MemorySegment comm, int rank, int size) {
        this.context = context;
        this.comm = comm;
        this.rank = rank;
        this.size = size;
    }

    /**
     * ncclCommInitRank without a CUDA context: for the test of these bindings against a fake libnccl on
     * machines without CUDA (NcclBindingsTest); NCCL itself needs the device's context current.
     */
    static NcclCommunicator createWithoutContext(int world, int rank, NcclUniqueId id) {
        return init(null, world, rank, id);
    }

    /**
     * ncclCommInitRank: joins communicator {@code id} as {@code rank} of {@code world} on the device of
     * {@code context}. Blocks until all {@code world} ranks have called it (each from its own thread or process).
     */
    public static NcclCommunicator create(CudaContext context, int world, int rank, NcclUniqueId id) {
        Nccl.requireAvailable();
        if (world < 1 || rank < 0 || rank >= world) throw new IllegalArgumentException("rank " + rank + " of " + world);
        return init(context, world, rank, id);
    }

    private static NcclCommunicator init(CudaContext context, int world, int rank, NcclUniqueId id) {
        if (context != null) context.makeCurrent();
        String op = "ncclCommInitRank(rank " + rank + " of " + world + ", device " + (context == null ? "-" : context.info().ordinal()) + ")";
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment idValue = arena.allocate(NcclLibrary.UNIQUE_ID);
            MemorySegment.copy(id.bytes(), 0, idValue, JAVA_BYTE, 0, NcclUniqueId.BYTES);
            check((int) NcclLibrary.ncclCommInitRank.invokeExact(out, world, idValue, rank), op, MemorySegment.NULL);
            return new NcclCommunicator(context, out.get(ADDRESS, 0), rank, world);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * ncclCommInitAll: a communicator over the devices of {@code contexts} within this process, rank i on
     * {@code contexts[i]} (tests and single-process multi-GPU work; drive them from one thread inside
     * {@link Nccl#group}, or from one thread each).
     */
    public static List<NcclCommunicator> createAll(List<CudaContext> contexts) {
        Nccl.requireAvailable();
        int n = contexts.size();
        if (n < 1) throw new IllegalArgumentException("no devices");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comms = arena.allocate(ADDRESS, n);
            MemorySegment devices = arena.allocate(JAVA_INT, n);
            for (int i = 0; i < n; i++) devices.setAtIndex(JAVA_INT, i, contexts.get(i).info().ordinal());
            contexts.getFirst().makeCurrent();
            check((int) NcclLibrary.ncclCommInitAll.invokeExact(comms, n, devices), "ncclCommInitAll(" + n + " devices)", MemorySegment.NULL);
            List<NcclCommunicator> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) out.add(new NcclCommunicator(contexts.get(i), comms.getAtIndex(ADDRESS, i), i, n));
            return out;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public CudaContext context() {
        return context;
    }

    public int rank() {
        return rank;
    }

    public int size() {
        return size;
    }

    /** ncclCommCount: the ranks of the communicator, as NCCL sees it. */
    public int count() {
        return intOut("ncclCommCount", (out) -> (int) NcclLibrary.ncclCommCount.invokeExact(handle(), out));
    }

    /** ncclCommCuDevice: the CUDA device of this rank. */
    public int device() {
        return intOut("ncclCommCuDevice", (out) -> (int) NcclLibrary.ncclCommCuDevice.invokeExact(handle(), out));
    }

    /** ncclCommUserRank: this rank, as NCCL sees it. */
    public int userRank() {
        return intOut("ncclCommUserRank", (out) -> (int) NcclLibrary.ncclCommUserRank.invokeExact(handle(), out));
    }

    // ------------------------------------------------------------------ collectives

    /** ncclAllReduce: {@code recv[0, count)} = op over the ranks of their {@code send[0, count)}; in place when send == recv. */
    public void allReduce(DevicePointer send, DevicePointer recv, long count, NcclDataType type, NcclRedOp op, CudaStream stream) {
        allReduce(send, recv, count, type, op, stream.handle());
    }

    void allReduce(DevicePointer send, DevicePointer recv, long count, NcclDataType type, NcclRedOp op, MemorySegment stream) {
        requireCount(count);
        String what = "ncclAllReduce(" + count + " x " + type.ncclName() + ", " + op + ", " + where() + ")";
        call(what, () -> (int) NcclLibrary.ncclAllReduce.invokeExact(ptr(send), ptr(recv), count, type.code, op.code, handle(), stream));
    }

    /** ncclReduceScatter: {@code recv[0, recvCount)} of rank r = op over the ranks of their {@code send[r·recvCount, (r+1)·recvCount)}. */
    public void reduceScatter(DevicePointer send, DevicePointer recv, long recvCount, NcclDataType type, NcclRedOp op, CudaStream stream) {
        reduceScatter(send, recv, recvCount, type, op, stream.handle());
    }

    void reduceScatter(DevicePointer send, DevicePointer recv, long recvCount, NcclDataType type, NcclRedOp op, MemorySegment stream) {
        requireCount(recvCount);
        String what = "ncclReduceScatter(" + recvCount + " x " + type.ncclName() + " per rank, " + op + ", " + where() + ")";
        call(what, () -> (int) NcclLibrary.ncclReduceScatter.invokeExact(ptr(send), ptr(recv), recvCount, type.code, op.code, handle(), stream));
    }

    /** ncclAllGather: {@code recv[r·sendCount, (r+1)·sendCount)} = rank r's {@code send[0, sendCount)}. */
    public void allGather(DevicePointer send, DevicePointer recv, long sendCount, NcclDataType type, CudaStream stream) {
        allGather(send, recv, sendCount, type, stream.handle());
    }

    void allGather(DevicePointer send, DevicePointer recv, long sendCount, NcclDataType type, MemorySegment stream) {
        requireCount(sendCount);
        String what = "ncclAllGather(" + sendCount + " x " + type.ncclName() + " per rank, " + where() + ")";
        call(what, () -> (int) NcclLibrary.ncclAllGather.invokeExact(ptr(send), ptr(recv), sendCount, type.code, handle(), stream));
    }

    /** ncclBroadcast: {@code recv[0, count)} = rank {@code root}'s {@code send[0, count)} ({@code send} is read on the root only). */
    public void broadcast(DevicePointer send, DevicePointer recv, long count, NcclDataType type, int root, CudaStream stream) {
        broadcast(send, recv, count, type, root, stream.handle());
    }

    void broadcast(DevicePointer send, DevicePointer recv, long count, NcclDataType type, int root, MemorySegment stream) {
        requireCount(count);
        String what = "ncclBroadcast(" + count + " x " + type.ncclName() + " from rank " + root + ", " + where() + ")";
        call(what, () -> (int) NcclLibrary.ncclBroadcast.invokeExact(ptr(send), ptr(recv), count, type.code, root, handle(), stream));
    }

    // ------------------------------------------------------------------ errors and teardown

    /** ncclCommGetAsyncError: null while the communicator is healthy, else the error (name, and NCCL's last message). */
    public NcclException asyncError() {
        bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) NcclLibrary.ncclCommGetAsyncError.invokeExact(handle(), out), "ncclCommGetAsyncError(" + where() + ")", comm);
            int r = out.get(JAVA_INT, 0);
            if (r == NcclLibrary.SUCCESS || r == 7) return null;                 // ncclInProgress: a non-blocking init still running
            String detail = NcclLibrary.errorString(r);
            String last = NcclLibrary.lastError(comm);
            if (last != null) detail = (detail == null ? "" : detail + "; ") + "last: " + last;
            return new NcclException("NCCL communicator (" + where() + ")", NcclLibrary.resultName(r), detail);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Throws the {@link #asyncError()}, if any. */
    public void checkAsyncError() {
        NcclException e = asyncError();
        if (e != null) throw e;
    }

    /** ncclCommAbort: frees the communicator and cancels its pending operations (after a failure; does not wait). */
    public void abort() {
        if (closed) return;
        closed = true;
        bind();
        try {
            check((int) NcclLibrary.ncclCommAbort.invokeExact(comm), "ncclCommAbort(" + where() + ")", MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ncclCommDestroy: frees the communicator once its queued work is done. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        bind();
        try {
            check((int) NcclLibrary.ncclCommDestroy.invokeExact(comm), "ncclCommDestroy(" + where() + ")", MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ helpers

    @FunctionalInterface
    private interface Call {
        int invoke() throws Throwable;
    }

    @FunctionalInterface
    private interface OutCall {
        int invoke(MemorySegment out) throws Throwable;
    }

    private void call(String operation, Call call) {
        bind();
        try {
            check(call.invoke(), operation, comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private int intOut(String operation, OutCall call) {
        bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check(call.invoke(out), operation + "(" + where() + ")", comm);
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private void bind() {
        if (context != null) context.makeCurrent();
    }

    private MemorySegment handle() {
        if (closed) throw new IllegalStateException("the NCCL communicator of " + where() + " is closed");
        return comm;
    }

    private String where() {
        return "rank " + rank + " of " + size + ", device " + (context == null ? "-" : context.info().ordinal());
    }

    private static MemorySegment ptr(DevicePointer p) {
        return MemorySegment.ofAddress(p.address());
    }

    private static void requireCount(long count) {
        if (count < 0) throw new IllegalArgumentException("negative element count " + count);
    }
}
