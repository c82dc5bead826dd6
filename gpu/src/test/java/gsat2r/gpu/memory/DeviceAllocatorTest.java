package gsat2r.gpu.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import gsat2r.gpu.cuda.CudaException;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DeviceAllocatorTest {
    /** A device of {@code capacity} bytes that hands out increasing addresses and fails like cuMemAlloc. */
    static final class FakeDevice implements DeviceAllocator.Backend {
        final long capacity;
        final Map<Long, Long> blocks = new HashMap<>();
        long used, next = 1L << 32;
        int allocations, frees;

        FakeDevice(long capacity) {
            this.capacity = capacity;
        }

        @Override
        public long allocate(long bytes) {
            if (used + bytes > capacity) {
                throw new CudaException("cuMemAlloc(" + bytes + " bytes)", "CUDA_ERROR_OUT_OF_MEMORY", "out of memory");
            }
            long a = next;
            next += (bytes + 511) / 512 * 512;
            blocks.put(a, bytes);
            used += bytes;
            allocations++;
            return a;
        }

        @Override
        public void free(long address) {
            Long b = blocks.remove(address);
            if (b == null) throw new AssertionError("double free of " + address);
            used -= b;
            frees++;
        }
    }

    @Test
    void sizeClasses() {
        assertEquals(256, DeviceAllocator.sizeClass(1));
        assertEquals(256, DeviceAllocator.sizeClass(256));
        assertEquals(512, DeviceAllocator.sizeClass(257));
        assertEquals(1 << 20, DeviceAllocator.sizeClass((1 << 19) + 1));
        assertEquals(1 << 20, DeviceAllocator.sizeClass(1 << 20));
        assertEquals(2 << 20, DeviceAllocator.sizeClass((1 << 20) + 1));
        assertEquals(6 << 20, DeviceAllocator.sizeClass((4 << 20) + 1));
        assertThrows(IllegalArgumentException.class, () -> DeviceAllocator.sizeClass(0));
    }

    @Test
    void releasedBlocksAreReusedWithoutTheDriver() {
        FakeDevice dev = new FakeDevice(1L << 30);
        DeviceAllocator alloc = new DeviceAllocator(dev);
        long a = alloc.allocate(1000), b = alloc.allocate(3 << 20);
        alloc.release(a);
        alloc.release(b);
        // A training step asks for the same sizes again: both come from the cache.
        assertEquals(a, alloc.allocate(1000));
        assertEquals(b, alloc.allocate((3 << 20) - 5));
        assertEquals(2, dev.allocations);
        DeviceAllocator.Stats s = alloc.stats();
        assertEquals(2, s.cacheHits());
        assertEquals(1024 + (4 << 20), s.inUseBytes());
        assertEquals(0, s.cachedBytes());
        // Another size class does not take a cached block of a different class.
        long c = alloc.allocate(100);
        assertNotEquals(a, c);
        assertEquals(3, dev.allocations);
    }

    @Test
    void outOfMemoryReleasesTheCacheAndRetries() {
        FakeDevice dev = new FakeDevice(10L << 20);
        DeviceAllocator alloc = new DeviceAllocator(dev);
        long a = alloc.allocate(6 << 20);
        alloc.release(a);                       // 6 MiB cached
        long b = alloc.allocate(8 << 20);       // needs the cache back
        assertEquals(1, dev.frees);
        assertEquals(8L << 20, alloc.stats().inUseBytes());
        CudaException e = assertThrows(CudaException.class, () -> alloc.allocate(4 << 20));
        assertTrue(e.isOutOfMemory());
        assertTrue(e.getMessage().startsWith("cuMemAlloc(4194304 bytes): CUDA_ERROR_OUT_OF_MEMORY"), e.getMessage());
        assertTrue(e.getMessage().contains("8.0 MiB were in use"), e.getMessage());
        alloc.release(b);
    }

    @Test
    void closeFreesEverything() {
        FakeDevice dev = new FakeDevice(1L << 30);
        DeviceAllocator alloc = new DeviceAllocator(dev);
        long a = alloc.allocate(1 << 10);
        long b = alloc.allocate(1 << 22);
        alloc.release(a);
        alloc.close();
        assertEquals(1, dev.frees);
        alloc.release(b);                        // after close, a release goes straight to the driver
        assertEquals(0, dev.used);
        assertThrows(IllegalArgumentException.class, () -> alloc.release(12345));
        assertThrows(IllegalStateException.class, () -> alloc.allocate(1));
        assertEquals((4L << 20) + 1024, alloc.stats().peakInUseBytes());
    }
}
