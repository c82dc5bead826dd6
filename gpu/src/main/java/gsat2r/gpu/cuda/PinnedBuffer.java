package gsat2r.gpu.cuda;

import static gsat2r.gpu.cuda.CudaDriver.check;
import static gsat2r.gpu.cuda.CudaDriver.rethrow;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory (cuMemAllocHost): the DMA engines read and write it directly, so copies
 * from and to it run at full PCIe speed and asynchronously. Used as the staging area between Java
 * arrays and device buffers.
 */
@SuppressWarnings("restricted")  // FFM: binding native symbols and sizing native pointers is the point of this class
public final class PinnedBuffer implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment segment;
    private boolean closed;

    private PinnedBuffer(CudaContext context, MemorySegment segment) {
        this.context = context;
        this.segment = segment;
    }

    public static PinnedBuffer allocate(CudaContext context, long bytes) {
        context.makeCurrent();
        if (bytes <= 0) throw new IllegalArgumentException("pinned allocation of " + bytes + " bytes");
        MemorySegment p = CudaDriver.pointerOut("cuMemAllocHost(" + bytes + " bytes)",
                out -> (int) CudaDriver.cuMemAllocHost.invokeExact(out, bytes));
        return new PinnedBuffer(context, p.reinterpret(bytes));
    }

    /** The host memory; valid until {@link #close()}. */
    public MemorySegment segment() {
        if (closed) throw new IllegalStateException("pinned buffer is closed");
        return segment;
    }

    public long byteSize() {
        return segment.byteSize();
    }

    @Override
    public void close() {
        if (closed) return;
        context.makeCurrent();
        closed = true;
        try {
            check((int) CudaDriver.cuMemFreeHost.invokeExact(segment), "cuMemFreeHost");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
