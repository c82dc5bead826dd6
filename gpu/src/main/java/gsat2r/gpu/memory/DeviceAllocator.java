package gsat2r.gpu.memory;

import gsat2r.gpu.cuda.CudaContext;
import gsat2r.gpu.cuda.CudaException;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * A caching device allocator. Sizes are rounded up to a size class (powers of two up to 1 MiB,
 * multiples of 2 MiB above); a released block goes to the free list of its class and the next
 * request of that class takes it back without a driver call. When the driver runs out of memory,
 * the cached blocks are returned to it and the request is tried once more.
 *
 * <p>Why: a training step allocates the same sizes every step, so after the first step every
 * request is a cache hit, and no {@code cuMemFree} (which waits for the whole device) stalls the
 * pipeline; unlike a bump arena, buffers of different lifetimes (weights, optimizer state,
 * activations of one step, scratch of one op) need no up-front plan of sizes.
 *
 * <p>Stream order: a block released by the host may still be in use by queued kernels. Reusing it
 * is safe when every user of the allocator queues its work on the same stream (the engine's one
 * stream); work on other streams must be synchronized before its buffers are released.
 */
public final class DeviceAllocator implements AutoCloseable {
    /** Where blocks come from: the CUDA driver, or a fake in tests. */
    public interface Backend {
        long allocate(long bytes);

        void free(long address);
    }

    public record Stats(long inUseBytes, long cachedBytes, long peakInUseBytes, long driverAllocations, long driverFrees,
                        long cacheHits) {
        public long reservedBytes() {
            return inUseBytes + cachedBytes;
        }
    }

    static final long SMALL_LIMIT = 1L << 20;
    static final long LARGE_GRANULE = 2L << 20;
    static final long MIN_BLOCK = 256;

    private final Backend backend;
    private final TreeMap<Long, ArrayDeque<Long>> free = new TreeMap<>();
    private final Map<Long, Long> live = new HashMap<>();  // address -> size class
    private long inUse, cached, peak, driverAllocations, driverFrees, cacheHits;
    private boolean closed;

    public DeviceAllocator(Backend backend) {
        this.backend = backend;
    }

    public static DeviceAllocator forContext(CudaContext context) {
        return new DeviceAllocator(new Backend() {
            @Override
            public long allocate(long bytes) {
                return context.allocate(bytes);
            }

            @Override
            public void free(long address) {
                context.free(address);
            }
        });
    }

    /** The size a request of {@code bytes} occupies. */
    public static long sizeClass(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("device allocation of " + bytes + " bytes");
        if (bytes <= MIN_BLOCK) return MIN_BLOCK;
        if (bytes <= SMALL_LIMIT) return Long.highestOneBit(bytes - 1) << 1;
        return (bytes + LARGE_GRANULE - 1) / LARGE_GRANULE * LARGE_GRANULE;
    }

    /** A block of at least {@code bytes}, 256-byte aligned, contents undefined. */
    public synchronized long allocate(long bytes) {
        if (closed) throw new IllegalStateException("allocator is closed");
        long size = sizeClass(bytes);
        ArrayDeque<Long> list = free.get(size);
        long address;
        if (list != null && !list.isEmpty()) {
            address = list.pop();
            cached -= size;
            cacheHits++;
        } else {
            address = allocateFromBackend(size, bytes);
        }
        live.put(address, size);
        inUse += size;
        peak = Math.max(peak, inUse);
        return address;
    }

    private long allocateFromBackend(long size, long requested) {
        try {
            long a = backend.allocate(size);
            driverAllocations++;
            return a;
        } catch (CudaException e) {
            if (!e.isOutOfMemory() || cached == 0) throw outOfMemory(e, requested);
        }
        releaseCached();
        try {
            long a = backend.allocate(size);
            driverAllocations++;
            return a;
        } catch (CudaException e) {
            throw e.isOutOfMemory() ? outOfMemory(e, requested) : e;
        }
    }

    private CudaException outOfMemory(CudaException e, long requested) {
        if (!e.isOutOfMemory()) return e;
        return e.withContext("while " + mib(inUse) + " MiB were in use by this program (asked for " + mib(requested) + " MiB)");
    }

    private static String mib(long bytes) {
        return String.format("%.1f", bytes / 1048576.0);
    }

    /** Returns a block from {@link #allocate} to the cache. */
    public synchronized void release(long address) {
        Long size = live.remove(address);
        if (size == null) throw new IllegalArgumentException("release of a device address this allocator did not give out: 0x" + Long.toHexString(address));
        inUse -= size;
        if (closed) {
            backend.free(address);
            driverFrees++;
            return;
        }
        free.computeIfAbsent(size, s -> new ArrayDeque<>()).push(address);
        cached += size;
    }

    /** Gives every cached (released) block back to the driver. */
    public synchronized void releaseCached() {
        for (ArrayDeque<Long> list : free.values()) {
            for (long a : list) {
                backend.free(a);
                driverFrees++;
            }
        }
        free.clear();
        cached = 0;
    }

    public synchronized Stats stats() {
        return new Stats(inUse, cached, peak, driverAllocations, driverFrees, cacheHits);
    }

    /** Frees the cache; blocks still in use are freed when released (or with the context). */
    @Override
    public synchronized void close() {
        if (closed) return;
        releaseCached();
        closed = true;
    }
}
