package gsat2r.gpu.cuda;

import static gsat2r.gpu.cuda.CudaDriver.check;
import static gsat2r.gpu.cuda.CudaDriver.rethrow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loaded CUDA module (cuModuleLoadData of a fatbin, cubin or PTX image) and its kernels by name.
 * With a fatbin the driver picks the machine code for the device, or JIT-compiles the PTX.
 */
public final class CudaModule implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private final String name;
    private final Map<String, CudaFunction> functions = new ConcurrentHashMap<>();
    private boolean closed;

    private CudaModule(CudaContext context, MemorySegment handle, String name) {
        this.context = context;
        this.handle = handle;
        this.name = name;
    }

    /** Loads an image; {@code name} (e.g. the resource path) only labels errors. */
    public static CudaModule load(CudaContext context, byte[] image, String name) {
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            // The driver reads the image during the call; a NUL after it ends PTX text images.
            MemorySegment img = arena.allocate(image.length + 1L, 16);
            MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
            MemorySegment h = CudaDriver.pointerOut("cuModuleLoadData(" + name + ", " + image.length + " bytes)",
                    out -> (int) CudaDriver.cuModuleLoadData.invokeExact(out, img));
            return new CudaModule(context, h, name);
        }
    }

    public CudaContext context() {
        return context;
    }

    /** The kernel {@code kernelName} (an extern "C" __global__ function), looked up once. */
    public CudaFunction function(String kernelName) {
        if (closed) throw new IllegalStateException("module " + name + " is unloaded");
        return functions.computeIfAbsent(kernelName, this::lookup);
    }

    private CudaFunction lookup(String kernelName) {
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cname = arena.allocateFrom(kernelName);
            MemorySegment f = CudaDriver.pointerOut("cuModuleGetFunction(" + kernelName + " in " + name + ")",
                    out -> (int) CudaDriver.cuModuleGetFunction.invokeExact(out, handle, cname));
            return new CudaFunction(context, f, kernelName);
        }
    }

    @Override
    public void close() {
        if (closed) return;
        context.makeCurrent();
        closed = true;
        try {
            check((int) CudaDriver.cuModuleUnload.invokeExact(handle), "cuModuleUnload(" + name + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
