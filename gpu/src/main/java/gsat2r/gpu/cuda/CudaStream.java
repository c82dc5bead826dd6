package gsat2r.gpu.cuda;

import static gsat2r.gpu.cuda.CudaDriver.check;
import static gsat2r.gpu.cuda.CudaDriver.rethrow;

import java.lang.foreign.MemorySegment;

/**
 * A CUDA stream: work submitted to it runs in order. Created with default flags, so it also
 * orders against the legacy default stream (no surprise overlaps with synchronous driver calls).
 */
public final class CudaStream implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private boolean closed;

    private CudaStream(CudaContext context, MemorySegment handle) {
        this.context = context;
        this.handle = handle;
    }

    public static CudaStream create(CudaContext context) {
        context.makeCurrent();
        MemorySegment h = CudaDriver.pointerOut("cuStreamCreate", out -> (int) CudaDriver.cuStreamCreate.invokeExact(out, 0));
        return new CudaStream(context, h);
    }

    public CudaContext context() {
        return context;
    }

    /** The CUstream (also a cudaStream_t for libraries such as cuBLASLt). */
    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("stream is closed");
        return handle;
    }

    /** Waits until all work submitted so far has finished; a kernel's failure surfaces here. */
    public void synchronize() {
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuStreamSynchronize.invokeExact(handle()), "cuStreamSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * cuStreamWaitEvent: work submitted to this stream from now on waits until {@code event}'s most
     * recent record (at the time of this call) has completed; the host does not wait. How two streams
     * of one device are ordered (a communication stream after the compute stream's gradients).
     */
    public void waitFor(CudaEvent event) {
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuStreamWaitEvent.invokeExact(handle(), event.handle(), 0), "cuStreamWaitEvent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void close() {
        if (closed) return;
        context.makeCurrent();
        closed = true;
        try {
            check((int) CudaDriver.cuStreamDestroy.invokeExact(handle), "cuStreamDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
