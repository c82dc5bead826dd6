package gsat2r.gpu.cuda;

import static gsat2r.gpu.cuda.CudaDriver.check;
import static gsat2r.gpu.cuda.CudaDriver.rethrow;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * An executable CUDA graph made by capturing the work one piece of code queues on a stream
 * (cuStreamBeginCapture, cuStreamEndCapture, cuGraphInstantiateWithFlags), replayed with one
 * {@link #launch} (cuGraphLaunch): what a decode step uses, so that its hundred kernels cost one launch
 * from Java. A replay runs the same kernels with the same arguments: what changes between replays must
 * be read by the kernels from device memory (or copied there by a copy node of the graph, which reads
 * its pinned host source at replay time).
 *
 * <p>Capture is in relaxed mode, so that code which does host-side work between launches (argument
 * checks, cuBLASLt's plan cache) is captured as is; the captured code must not synchronize the stream,
 * allocate from the driver or read results back.
 */
public final class CudaGraph implements AutoCloseable {
    private static final int CAPTURE_MODE_RELAXED = 2;

    private final CudaContext context;
    private final MemorySegment exec;
    private boolean closed;

    private CudaGraph(CudaContext context, MemorySegment exec) {
        this.context = context;
        this.exec = exec;
    }

    /** Whether this driver captures and replays graphs (driver 12.0 and later). */
    public static boolean available() {
        return Cuda.available() && CudaDriver.cuStreamBeginCapture != null && CudaDriver.cuStreamEndCapture != null
                && CudaDriver.cuGraphInstantiateWithFlags != null && CudaDriver.cuGraphLaunch != null
                && CudaDriver.cuGraphExecDestroy != null && CudaDriver.cuGraphDestroy != null;
    }

    /**
     * Runs {@code body}, capturing what it queues on {@code stream} instead of running it, and returns the
     * instantiated graph. When {@code body} throws, the capture is ended and discarded and the exception
     * passes through.
     */
    public static CudaGraph capture(CudaStream stream, Runnable body) {
        if (!available()) throw new CudaException("this CUDA driver has no stream capture (cuStreamBeginCapture_v2)");
        CudaContext context = stream.context();
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuStreamBeginCapture.invokeExact(stream.handle(), CAPTURE_MODE_RELAXED), "cuStreamBeginCapture");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        try {
            body.run();
        } catch (RuntimeException | Error e) {
            try {
                MemorySegment g = endCapture(stream);
                if (!g.equals(MemorySegment.NULL)) destroyGraph(g);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        MemorySegment graph = endCapture(stream);
        try {
            MemorySegment exec = CudaDriver.pointerOut("cuGraphInstantiateWithFlags",
                    out -> (int) CudaDriver.cuGraphInstantiateWithFlags.invokeExact(out, graph, 0L));
            return new CudaGraph(context, exec);
        } finally {
            destroyGraph(graph);
        }
    }

    private static MemorySegment endCapture(CudaStream stream) {
        return CudaDriver.pointerOut("cuStreamEndCapture", out -> (int) CudaDriver.cuStreamEndCapture.invokeExact(stream.handle(), out));
    }

    private static void destroyGraph(MemorySegment graph) {
        try {
            check((int) CudaDriver.cuGraphDestroy.invokeExact(graph), "cuGraphDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Whether {@code stream} is being captured now (work queued on it is recorded, not run). */
    public static boolean capturing(CudaStream stream) {
        if (CudaDriver.cuStreamIsCapturing == null) return false;
        stream.context().makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            check((int) CudaDriver.cuStreamIsCapturing.invokeExact(stream.handle(), status), "cuStreamIsCapturing");
            return status.get(JAVA_INT, 0) != 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Queues one replay of the graph on {@code stream}. */
    public void launch(CudaStream stream) {
        if (closed) throw new IllegalStateException("CUDA graph is closed");
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuGraphLaunch.invokeExact(exec, stream.handle()), "cuGraphLaunch");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuGraphExecDestroy.invokeExact(exec), "cuGraphExecDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
