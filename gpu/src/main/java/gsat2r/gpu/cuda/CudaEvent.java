package gsat2r.gpu.cuda;

import static gsat2r.gpu.cuda.CudaDriver.check;
import static gsat2r.gpu.cuda.CudaDriver.rethrow;

import java.lang.foreign.MemorySegment;

/** A CUDA event with timing: record it on a stream, wait for it, measure between two of them. */
public final class CudaEvent implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private boolean closed;

    private CudaEvent(CudaContext context, MemorySegment handle) {
        this.context = context;
        this.handle = handle;
    }

    public static CudaEvent create(CudaContext context) {
        context.makeCurrent();
        MemorySegment h = CudaDriver.pointerOut("cuEventCreate", out -> (int) CudaDriver.cuEventCreate.invokeExact(out, 0));
        return new CudaEvent(context, h);
    }

    public void record(CudaStream stream) {
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuEventRecord.invokeExact(handle(), stream.handle()), "cuEventRecord");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void synchronize() {
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuEventSynchronize.invokeExact(handle()), "cuEventSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Milliseconds from {@code start} to this event (both recorded; this one is waited for). */
    public float elapsedMillisSince(CudaEvent start) {
        synchronize();
        return CudaDriver.floatOut("cuEventElapsedTime",
                out -> (int) CudaDriver.cuEventElapsedTime.invokeExact(out, start.handle(), handle()));
    }

    MemorySegment handle() {
        if (closed) throw new IllegalStateException("event is closed");
        return handle;
    }

    @Override
    public void close() {
        if (closed) return;
        context.makeCurrent();
        closed = true;
        try {
            check((int) CudaDriver.cuEventDestroy.invokeExact(handle), "cuEventDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
