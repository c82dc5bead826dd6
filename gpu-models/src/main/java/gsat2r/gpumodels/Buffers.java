package gsat2r.gpumodels;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

import java.util.ArrayList;
import java.util.List;

/**
 * Device buffers that live and die together (the activations of one layer's pass, the scratch of one
 * step), taken from the engine's caching allocator and given back on {@link #close}. Release is
 * stream-ordered (see {@link gsat2r.gpu.memory.DeviceAllocator}): closing while kernels that use the
 * buffers are still queued is safe.
 */
final class Buffers implements AutoCloseable {
    private final Gpu gpu;
    private final ElementType type;
    private final List<DeviceBuffer> owned = new ArrayList<>();

    /** @param type the storage type of {@link #t} */
    Buffers(Gpu gpu, ElementType type) {
        this.gpu = gpu;
        this.type = type;
    }

    /** {@code n} elements of the compute storage type. */
    DeviceBuffer t(long n) {
        return own(gpu.allocate(type, n));
    }

    DeviceBuffer f32(long n) {
        return own(gpu.f32(n));
    }

    DeviceBuffer i32(long n) {
        return own(gpu.i32(n));
    }

    DeviceBuffer own(DeviceBuffer b) {
        owned.add(b);
        return b;
    }

    @Override
    public void close() {
        for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).close();
        owned.clear();
    }
}
