package gsat2r.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import gsat2r.gpu.cuda.CudaEvent;
import gsat2r.gpu.cuda.CudaException;
import gsat2r.gpu.cuda.CudaFunction;
import gsat2r.gpu.cuda.PinnedBuffer;
import gsat2r.gpu.memory.Bf16;
import gsat2r.gpu.memory.DeviceAllocator;
import gsat2r.gpu.ops.Convert;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The driver bindings, memory and copies on a real device. */
class EngineGpuTest extends GpuTestSupport {
    @Test
    void deviceIsDescribed() {
        Gpu g = gpu();
        assertTrue(g.info().computeMajor() >= 8, "compute capability " + g.info().computeCapability());
        assertTrue(g.info().multiprocessors() > 0);
        assertTrue(g.info().maxSharedMemoryPerBlockOptin() >= 48 * 1024);
        var mem = g.context().memoryInfo();
        assertTrue(mem.free() > 0 && mem.free() <= mem.total() && mem.total() <= g.info().totalMemory() + (1L << 30));
        metric("device.memory.free_GiB", mem.free() / (double) (1L << 30), "GiB");
    }

    @Test
    void roundTripsAcrossStagingChunks() {
        Random r = new Random(1);
        int n = 5_000_003;  // more than one 16 MiB staging chunk of fp32, odd length
        float[] a = randn(r, n, 3);
        try (DeviceBuffer f = gpu().upload(a, ElementType.F32); DeviceBuffer b = gpu().upload(a, ElementType.BF16)) {
            assertArrayEquals(a, f.toFloatArray());
            assertArrayEquals(Bf16.round(a), b.toFloatArray());
        }
        int[] ids = r.ints(1_234_567, -5, 100_000).toArray();
        try (DeviceBuffer i = gpu().upload(ids)) {
            assertArrayEquals(ids, i.toIntArray());
        }
    }

    @Test
    void viewsCopiesFills() {
        Random r = new Random(2);
        float[] a = randn(r, 1000, 1);
        try (DeviceBuffer src = gpu().upload(a, ElementType.F32); DeviceBuffer dst = poisoned(ElementType.F32, 1000)) {
            dst.view(100, 50).copyFrom(src.view(300, 50));
            float[] got = dst.toFloatArray();
            for (int i = 0; i < 1000; i++) {
                if (i >= 100 && i < 150) assertEquals(a[i + 200], got[i]);
                else assertTrue(Float.isNaN(got[i]), "poison kept at " + i);
            }
            dst.zero();
            for (float v : dst.toFloatArray()) assertEquals(0f, v);
            Convert.fill(gpu(), dst, 2.5f);
            for (float v : dst.toFloatArray()) assertEquals(2.5f, v);
            dst.view(3, 4).copyFrom(new float[] {1, 2, 3, 4}, 0, 0, 4);
            assertEquals(3f, dst.toFloatArray()[5]);
        }
        try (DeviceBuffer b = poisoned(ElementType.BF16, 33)) {
            for (float v : b.toFloatArray()) assertTrue(Float.isNaN(v));
        }
    }

    @Test
    void pinnedAsyncCopiesAndEvents() {
        Gpu g = gpu();
        long n = 64L << 20;  // 256 MiB of fp32
        try (PinnedBuffer host = PinnedBuffer.allocate(g.context(), 4096); DeviceBuffer big = g.f32(n);
             CudaEvent start = g.newEvent(); CudaEvent stop = g.newEvent()) {
            MemorySegment s = host.segment();
            for (int i = 0; i < 1024; i++) s.setAtIndex(ValueLayout.JAVA_INT, i, i * 7);
            g.context().copyHostToDeviceAsync(big.address(), s, 4096, g.stream());
            s.fill((byte) 0);
            g.stream().synchronize();
            g.context().copyDeviceToHostAsync(s, big.address(), 4096, g.stream());
            g.stream().synchronize();
            for (int i = 0; i < 1024; i++) assertEquals(i * 7, s.getAtIndex(ValueLayout.JAVA_INT, i));
            start.record(g.stream());
            Convert.fill(g, big, 1f);
            stop.record(g.stream());
            float ms = stop.elapsedMillisSince(start);
            assertTrue(ms > 0 && ms < 1000, "fill of 256 MiB took " + ms + " ms");
            metric("fill_f32.256MiB.GBps", n * 4 / (ms * 1e-3) / 1e9, "GB/s");
        }
    }

    @Test
    void errorsNameTheOperationAndTheCudaError() {
        Gpu g = gpu();
        CudaException oom = assertThrows(CudaException.class, () -> g.context().allocate(1L << 42));
        assertTrue(oom.getMessage().startsWith("cuMemAlloc(4398046511104 bytes): CUDA_ERROR_OUT_OF_MEMORY"), oom.getMessage());
        System.out.println("GPU-NOTE " + oom.getMessage());
        CudaException viaPool = assertThrows(CudaException.class, () -> g.f32(1L << 40));
        assertTrue(viaPool.isOutOfMemory() && viaPool.getMessage().contains("in use by this program"), viaPool.getMessage());
        CudaException missing = assertThrows(CudaException.class, () -> g.kernel("no_such_kernel"));
        assertTrue(missing.getMessage().contains("CUDA_ERROR_NOT_FOUND"), missing.getMessage());
    }

    @Test
    void launchArgumentsAreCheckedAgainstTheKernelSignature() {
        CudaFunction fill = gpu().kernel("fill_f32");
        long[] sizes = fill.parameterSizes();
        System.out.println("GPU-NOTE fill_f32 parameter sizes " + java.util.Arrays.toString(sizes) + ", registers " + fill.registers());
        if (sizes == null) return;  // driver without cuFuncGetParamInfo
        assertArrayEquals(new long[] {8, 8, 4}, sizes);
        try (DeviceBuffer x = gpu().f32(16)) {
            // n passed as an int where the kernel takes long long: refused before it reaches the GPU.
            assertThrows(IllegalArgumentException.class, () -> fill.launch(gpu().stream(), 1, 32, 0, x, 16, 1f));
            assertThrows(IllegalArgumentException.class, () -> fill.launch(gpu().stream(), 1, 32, 0, x, 16L));
        }
    }

    @Test
    void allocatorReusesBlocksOnTheDevice() {
        DeviceAllocator alloc = gpu().allocator();
        long before = alloc.stats().driverAllocations();
        long address;
        try (DeviceBuffer a = gpu().f32(3_000_000)) {
            address = a.address();
        }
        try (DeviceBuffer b = gpu().f32(2_900_000)) {  // same 12 MiB size class
            assertEquals(address, b.address());
        }
        assertTrue(alloc.stats().driverAllocations() - before <= 1);
    }
}
