package gsat2r.gpu;

import gsat2r.gpu.cuda.CublasLt;
import gsat2r.gpu.cuda.Cuda;
import gsat2r.gpu.cuda.CudaContext;
import gsat2r.gpu.cuda.CudaEvent;
import gsat2r.gpu.cuda.CudaException;
import gsat2r.gpu.cuda.CudaFunction;
import gsat2r.gpu.cuda.CudaModule;
import gsat2r.gpu.cuda.CudaStream;
import gsat2r.gpu.cuda.PinnedBuffer;
import gsat2r.gpu.memory.DeviceAllocator;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;

/**
 * The CUDA engine for one device: its context, one stream on which all work is queued in order,
 * the caching allocator, the kernels of this module (one fatbin loaded with cuModuleLoadData), a
 * cuBLASLt handle, and a pinned staging buffer for host copies.
 *
 * <p>One stream keeps the model simple: kernels, copies and matrix products run in submission
 * order, buffers can be reused as soon as the host releases them (see {@link DeviceAllocator}), and
 * a failure surfaces at the next {@link #synchronize()}. Not thread-safe: drive it from one thread.
 */
public final class Gpu implements AutoCloseable {
    /** The resource the Maven build writes with nvcc (sm_80, sm_90 machine code and compute_90 PTX). */
    public static final String KERNELS_RESOURCE = Cuda.KERNELS_RESOURCE;
    static final long STAGING_BYTES = 16L << 20;

    private final CudaContext context;
    private final CudaStream stream;
    private final DeviceAllocator allocator;
    private final CudaModule kernels;
    private final PinnedBuffer staging;
    private CublasLt blas;
    private boolean closed, programmatic;

    private Gpu(CudaContext context, CudaStream stream, DeviceAllocator allocator, CudaModule kernels, PinnedBuffer staging) {
        this.context = context;
        this.stream = stream;
        this.allocator = allocator;
        this.kernels = kernels;
        this.staging = staging;
    }

    /** Device {@code gsat2r.gpu.device} (system property, default 0). */
    public static Gpu open() {
        return open(Integer.getInteger("gsat2r.gpu.device", 0));
    }

    public static Gpu open(int ordinal) {
        Cuda.requireAvailable();
        byte[] image = kernelImage();
        CudaContext context = CudaContext.open(ordinal);
        CudaStream stream = null;
        CudaModule module = null;
        try {
            stream = CudaStream.create(context);
            module = CudaModule.load(context, image, KERNELS_RESOURCE.substring(1));
            PinnedBuffer staging = PinnedBuffer.allocate(context, STAGING_BYTES);
            return new Gpu(context, stream, DeviceAllocator.forContext(context), module, staging);
        } catch (RuntimeException e) {
            if (module != null) module.close();
            if (stream != null) stream.close();
            context.close();
            throw e;
        }
    }

    /** The kernels' fatbin from the classpath. */
    public static byte[] kernelImage() {
        try (InputStream in = Gpu.class.getResourceAsStream(KERNELS_RESOURCE)) {
            if (in == null) {
                throw new CudaException(Cuda.NO_KERNELS);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new CudaException("cannot read kernel image " + KERNELS_RESOURCE.substring(1) + ": " + e.getMessage());
        }
    }

    public CudaContext context() {
        return context;
    }

    public CudaContext.DeviceInfo info() {
        return context.info();
    }

    public CudaStream stream() {
        return stream;
    }

    public DeviceAllocator allocator() {
        return allocator;
    }

    /** A kernel of this module by its full name. */
    public CudaFunction kernel(String name) {
        return kernels.function(name);
    }

    /** The storage-typed variant of a kernel: {@code kernel("rmsnorm_fwd", BF16)} is {@code rmsnorm_fwd_bf16}. */
    public CudaFunction kernel(String base, ElementType type) {
        return kernels.function(base + "_" + type.kernelSuffix());
    }

    /**
     * Whether kernels written for it (they wait with griddepcontrol.wait before reading what the previous
     * kernel wrote: the decode kernels) are launched with programmatic dependent launch
     * ({@link CudaFunction#launchProgrammatic}), so that they start while the previous kernel finishes.
     */
    public boolean programmaticLaunches() {
        return programmatic;
    }

    /** Turns {@link #programmaticLaunches} on (where the driver has cuLaunchKernelEx) or off; returns what it was. */
    public boolean setProgrammaticLaunches(boolean on) {
        boolean was = programmatic;
        programmatic = on && CudaFunction.programmaticLaunchAvailable();
        return was;
    }

    /** The cuBLASLt handle (created on first use, with a 32 MiB workspace). */
    public CublasLt blas() {
        if (blas == null) blas = CublasLt.create(context, CublasLt.DEFAULT_WORKSPACE_BYTES);
        return blas;
    }

    // ---- buffers ----------------------------------------------------------------------------

    /** An uninitialised buffer of {@code length} elements. */
    public DeviceBuffer allocate(ElementType type, long length) {
        if (closed) throw new IllegalStateException("GPU engine is closed");
        if (length < 1) throw new IllegalArgumentException("device buffer of " + length + " elements");
        long address = allocator.allocate(length * type.bytes());
        return new DeviceBuffer(this, type, address, length, true);
    }

    public DeviceBuffer f32(long length) {
        return allocate(ElementType.F32, length);
    }

    public DeviceBuffer bf16(long length) {
        return allocate(ElementType.BF16, length);
    }

    public DeviceBuffer i32(long length) {
        return allocate(ElementType.I32, length);
    }

    /** A new buffer of {@code type} (F32 or BF16) holding {@code data}. */
    public DeviceBuffer upload(float[] data, ElementType type) {
        DeviceBuffer b = allocate(type, data.length);
        b.copyFrom(data);
        return b;
    }

    public DeviceBuffer upload(int[] data) {
        DeviceBuffer b = i32(data.length);
        b.copyFrom(data);
        return b;
    }

    public CudaEvent newEvent() {
        return CudaEvent.create(context);
    }

    /** Waits for all queued work; a failed kernel is reported here. */
    public void synchronize() {
        stream.synchronize();
    }

    /** One step of a chunked copy through the staging buffer; returns the units it moved. */
    @FunctionalInterface
    interface StagingStep {
        long step(MemorySegment staging, long chunkBytes, long done);
    }

    /** Runs {@code step} until {@code total} units have moved, waiting for the stream after each chunk (the staging buffer is reused). */
    synchronized void stage(StagingStep step, long total) {
        long done = 0;
        MemorySegment segment = staging.segment();
        while (done < total) {
            done += step.step(segment, segment.byteSize(), done);
            stream.synchronize();
        }
    }

    /** As {@link #stage}, for steps that already wait before reading the staging buffer. */
    synchronized void unstage(StagingStep step, long total) {
        long done = 0;
        MemorySegment segment = staging.segment();
        while (done < total) done += step.step(segment, segment.byteSize(), done);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            stream.synchronize();
        } finally {
            if (blas != null) blas.close();
            kernels.close();
            allocator.close();
            staging.close();
            stream.close();
            context.close();
        }
    }
}
