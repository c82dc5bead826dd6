package gsat2r.gpu.cuda;

import static gsat2r.gpu.cuda.CudaDriver.check;
import static gsat2r.gpu.cuda.CudaDriver.rethrow;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One GPU and its primary context (the context the CUDA runtime and libraries such as cuBLASLt
 * share). CUDA binds a context to the calling thread; {@link #makeCurrent()} does that once per
 * thread, and every wrapper in this package calls it before its driver calls, so that an object
 * made on one thread can be used from another.
 *
 * <p>Device memory operations live here because they need the context: raw allocation (use
 * {@code gsat2r.gpu.memory.DeviceAllocator} instead, which caches), copies and memsets, synchronous
 * or ordered on a stream.
 */
public final class CudaContext implements AutoCloseable {
    private static final ThreadLocal<CudaContext> CURRENT = new ThreadLocal<>();

    private final int device;
    private final MemorySegment handle;
    private final DeviceInfo info;
    private boolean closed;

    /** What the kernels and the launch code need to know about the device. */
    public record DeviceInfo(int ordinal, String name, int computeMajor, int computeMinor, int multiprocessors,
                             long totalMemory, int l2CacheBytes, int maxThreadsPerBlock, int maxSharedMemoryPerBlockOptin) {
        public String computeCapability() {
            return computeMajor + "." + computeMinor;
        }

        @Override
        public String toString() {
            return String.format("%s (sm_%d%d, %d SMs, %.1f GiB, L2 %d MiB)", name, computeMajor, computeMinor,
                    multiprocessors, totalMemory / (double) (1L << 30), l2CacheBytes >> 20);
        }
    }

    public record MemoryInfo(long free, long total) {}

    private CudaContext(int device, MemorySegment handle, DeviceInfo info) {
        this.device = device;
        this.handle = handle;
        this.info = info;
    }

    /** Retains the primary context of device {@code ordinal} and makes it current on this thread. */
    public static CudaContext open(int ordinal) {
        Cuda.requireAvailable();
        int count = CudaDriver.deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaException("CUDA device " + ordinal + " does not exist (this machine has " + count + ")");
        }
        int device = CudaDriver.intOut("cuDeviceGet(" + ordinal + ")", out -> (int) CudaDriver.cuDeviceGet.invokeExact(out, ordinal));
        MemorySegment ctx = CudaDriver.pointerOut("cuDevicePrimaryCtxRetain(device " + ordinal + ")",
                out -> (int) CudaDriver.cuDevicePrimaryCtxRetain.invokeExact(out, device));
        CudaContext context = new CudaContext(device, ctx, readInfo(ordinal, device));
        context.makeCurrent();
        return context;
    }

    private static DeviceInfo readInfo(int ordinal, int device) {
        String name;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(256);
            check((int) CudaDriver.cuDeviceGetName.invokeExact(buf, 256, device), "cuDeviceGetName");
            name = buf.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        long total = CudaDriver.longOut("cuDeviceTotalMem", out -> (int) CudaDriver.cuDeviceTotalMem.invokeExact(out, device));
        return new DeviceInfo(ordinal, name,
                attribute(device, DeviceAttribute.COMPUTE_CAPABILITY_MAJOR),
                attribute(device, DeviceAttribute.COMPUTE_CAPABILITY_MINOR),
                attribute(device, DeviceAttribute.MULTIPROCESSOR_COUNT),
                total,
                attribute(device, DeviceAttribute.L2_CACHE_SIZE),
                attribute(device, DeviceAttribute.MAX_THREADS_PER_BLOCK),
                attribute(device, DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN));
    }

    /** CUdevice_attribute values used here (cuda.h). */
    static final class DeviceAttribute {
        static final int MAX_THREADS_PER_BLOCK = 1;
        static final int MULTIPROCESSOR_COUNT = 16;
        static final int L2_CACHE_SIZE = 38;
        static final int COMPUTE_CAPABILITY_MAJOR = 75;
        static final int COMPUTE_CAPABILITY_MINOR = 76;
        static final int MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
        static final int PCI_BUS_ID = 33;
        static final int PCI_DEVICE_ID = 34;
        static final int PCI_DOMAIN_ID = 50;
    }

    /**
     * The device's PCI address, {@code domain:bus:device} in hex as nvidia-smi prints it: what identifies a
     * physical GPU across processes whatever CUDA_VISIBLE_DEVICES renumbers (ordinals do not).
     */
    public String pciAddress() {
        return String.format("%04x:%02x:%02x", attribute(device, DeviceAttribute.PCI_DOMAIN_ID),
                attribute(device, DeviceAttribute.PCI_BUS_ID), attribute(device, DeviceAttribute.PCI_DEVICE_ID));
    }

    private static int attribute(int device, int attribute) {
        return CudaDriver.intOut("cuDeviceGetAttribute(" + attribute + ")",
                out -> (int) CudaDriver.cuDeviceGetAttribute.invokeExact(out, attribute, device));
    }

    public DeviceInfo info() {
        return info;
    }

    MemorySegment handle() {
        return handle;
    }

    /** Binds this context to the calling thread (a no-op when it already is). */
    public void makeCurrent() {
        if (closed) throw new IllegalStateException("CUDA context of device " + info.ordinal() + " is closed");
        if (CURRENT.get() == this) return;
        try {
            check((int) CudaDriver.cuCtxSetCurrent.invokeExact(handle), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CURRENT.set(this);
    }

    /** Waits for all work of this context, on every stream. */
    public void synchronize() {
        makeCurrent();
        try {
            check((int) CudaDriver.cuCtxSynchronize.invokeExact(), "cuCtxSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemoryInfo memoryInfo() {
        makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(JAVA_LONG), total = arena.allocate(JAVA_LONG);
            check((int) CudaDriver.cuMemGetInfo.invokeExact(free, total), "cuMemGetInfo");
            return new MemoryInfo(free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- device memory ----------------------------------------------------------------------

    /** cuMemAlloc: at least 256-byte aligned device memory, uninitialised. */
    public long allocate(long bytes) {
        makeCurrent();
        if (bytes <= 0) throw new IllegalArgumentException("device allocation of " + bytes + " bytes");
        return CudaDriver.longOut("cuMemAlloc(" + bytes + " bytes)", out -> (int) CudaDriver.cuMemAlloc.invokeExact(out, bytes));
    }

    /** cuMemFree (which waits for the device to finish work that may use the memory). */
    public void free(long pointer) {
        makeCurrent();
        try {
            check((int) CudaDriver.cuMemFree.invokeExact(pointer), "cuMemFree");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Synchronous copy from host memory (any segment the driver can read) to the device. */
    public void copyHostToDevice(long dst, MemorySegment src, long bytes) {
        makeCurrent();
        checkHost(src, bytes);
        try {
            int r = (int) CudaDriver.cuMemcpyHtoD.invokeExact(dst, src, bytes);
            if (r != 0) throw CudaDriver.error(r, "cuMemcpyHtoD(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void copyDeviceToHost(MemorySegment dst, long src, long bytes) {
        makeCurrent();
        checkHost(dst, bytes);
        try {
            int r = (int) CudaDriver.cuMemcpyDtoH.invokeExact(dst, src, bytes);
            if (r != 0) throw CudaDriver.error(r, "cuMemcpyDtoH(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void copyDeviceToDevice(long dst, long src, long bytes) {
        makeCurrent();
        try {
            int r = (int) CudaDriver.cuMemcpyDtoD.invokeExact(dst, src, bytes);
            if (r != 0) throw CudaDriver.error(r, "cuMemcpyDtoD(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Copy ordered on {@code stream}; {@code src} must stay valid (and unchanged) until the stream reaches it. Pinned memory makes it truly asynchronous. */
    public void copyHostToDeviceAsync(long dst, MemorySegment src, long bytes, CudaStream stream) {
        makeCurrent();
        checkHost(src, bytes);
        try {
            int r = (int) CudaDriver.cuMemcpyHtoDAsync.invokeExact(dst, src, bytes, stream.handle());
            if (r != 0) throw CudaDriver.error(r, "cuMemcpyHtoDAsync(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void copyDeviceToHostAsync(MemorySegment dst, long src, long bytes, CudaStream stream) {
        makeCurrent();
        checkHost(dst, bytes);
        try {
            int r = (int) CudaDriver.cuMemcpyDtoHAsync.invokeExact(dst, src, bytes, stream.handle());
            if (r != 0) throw CudaDriver.error(r, "cuMemcpyDtoHAsync(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void copyDeviceToDeviceAsync(long dst, long src, long bytes, CudaStream stream) {
        makeCurrent();
        try {
            int r = (int) CudaDriver.cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, stream.handle());
            if (r != 0) throw CudaDriver.error(r, "cuMemcpyDtoDAsync(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sets {@code count} 32-bit words at {@code dst} (4-byte aligned) to {@code value}, ordered on the stream. */
    public void memsetD32Async(long dst, int value, long count, CudaStream stream) {
        makeCurrent();
        try {
            int r = (int) CudaDriver.cuMemsetD32Async.invokeExact(dst, value, count, stream.handle());
            if (r != 0) throw CudaDriver.error(r, "cuMemsetD32Async(" + count + " words)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memsetD16Async(long dst, short value, long count, CudaStream stream) {
        makeCurrent();
        try {
            int r = (int) CudaDriver.cuMemsetD16Async.invokeExact(dst, value, count, stream.handle());
            if (r != 0) throw CudaDriver.error(r, "cuMemsetD16Async(" + count + " halfwords)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memsetD8Async(long dst, byte value, long count, CudaStream stream) {
        makeCurrent();
        try {
            int r = (int) CudaDriver.cuMemsetD8Async.invokeExact(dst, value, count, stream.handle());
            if (r != 0) throw CudaDriver.error(r, "cuMemsetD8Async(" + count + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void checkHost(MemorySegment host, long bytes) {
        if (host.byteSize() < bytes) {
            throw new IllegalArgumentException("host segment of " + host.byteSize() + " bytes for a copy of " + bytes);
        }
        if (!host.isNative()) throw new IllegalArgumentException("host segment must be native (off-heap) memory");
    }

    /** Releases the primary context (the driver destroys it when the last holder releases it). */
    @Override
    public void close() {
        if (closed) return;
        try {
            check((int) CudaDriver.cuDevicePrimaryCtxRelease.invokeExact(device), "cuDevicePrimaryCtxRelease");
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            closed = true;
            if (CURRENT.get() == this) CURRENT.remove();
        }
    }
}
