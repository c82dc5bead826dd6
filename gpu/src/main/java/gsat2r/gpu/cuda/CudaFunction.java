package gsat2r.gpu.cuda;

import static gsat2r.gpu.cuda.CudaDriver.check;
import static gsat2r.gpu.cuda.CudaDriver.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A kernel of a loaded module. {@link #launch} passes arguments by value the way cuLaunchKernel
 * wants them: an array of pointers, one per parameter, each to the parameter's bytes.
 *
 * <p>Argument types: {@link DevicePointer} or {@code null} (a device pointer, 8 bytes), {@link Long}
 * (8), {@link Integer} (4), {@link Float} (4), {@link Double} (8). When the driver can say how
 * large each parameter is (cuFuncGetParamInfo, driver 12.4+), the count and sizes are checked at
 * every launch, so an {@code int} passed where the kernel takes a {@code long long} fails loudly.
 *
 * <p>Set the system property {@code gsat2r.gpu.syncLaunches=true} to synchronize after every
 * launch: a kernel fault is then reported by the launch that caused it (slow; for debugging).
 */
public final class CudaFunction {
    static final boolean SYNC_LAUNCHES = Boolean.getBoolean("gsat2r.gpu.syncLaunches");
    private static final int MAX_ARGS = 64;

    /** CUfunction_attribute values used here (cuda.h). */
    public static final int ATTR_MAX_THREADS_PER_BLOCK = 0;
    public static final int ATTR_SHARED_SIZE_BYTES = 1;
    public static final int ATTR_LOCAL_SIZE_BYTES = 3;
    public static final int ATTR_NUM_REGS = 4;
    public static final int ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
    public static final int ATTR_PREFERRED_SHARED_MEMORY_CARVEOUT = 9;

    private final CudaContext context;
    private final MemorySegment handle;
    private final String name;
    private final long[] parameterSizes;  // null when the driver cannot tell
    private int maxDynamicShared = 48 * 1024;
    private int carveout = -1;

    /** CUlaunchConfig (56 bytes) and one CUlaunchAttribute (id, padding, a 64-byte value union) of cuda.h. */
    private static final long CONFIG_BYTES = 56, ATTRIBUTE_BYTES = 72;
    private static final int ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;

    /**
     * Per-thread scratch for the argument values, the pointer array and a launch configuration (the
     * driver copies them at launch).
     */
    private static final ThreadLocal<MemorySegment> SCRATCH =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(16L * MAX_ARGS + CONFIG_BYTES + ATTRIBUTE_BYTES, 16));

    CudaFunction(CudaContext context, MemorySegment handle, String name) {
        this.context = context;
        this.handle = handle;
        this.name = name;
        this.parameterSizes = queryParameterSizes();
    }

    public String name() {
        return name;
    }

    private long[] queryParameterSizes() {
        if (CudaDriver.cuFuncGetParamInfo == null) return null;
        List<Long> sizes = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment offset = arena.allocate(JAVA_LONG), size = arena.allocate(JAVA_LONG);
            for (long i = 0; i < MAX_ARGS + 1; i++) {
                int r = (int) CudaDriver.cuFuncGetParamInfo.invokeExact(handle, i, offset, size);
                if (r == CudaDriver.CUDA_ERROR_INVALID_VALUE) break;  // past the last parameter
                if (r != CudaDriver.CUDA_SUCCESS) return null;     // cannot tell: skip the checks
                sizes.add(size.get(JAVA_LONG, 0));
            }
        } catch (Throwable t) {
            return null;
        }
        return sizes.stream().mapToLong(Long::longValue).toArray();
    }

    /** The parameter sizes in bytes as the driver reports them, or null when it cannot. */
    public long[] parameterSizes() {
        return parameterSizes == null ? null : parameterSizes.clone();
    }

    public int attribute(int attribute) {
        context.makeCurrent();
        return CudaDriver.intOut("cuFuncGetAttribute(" + name + ", " + attribute + ")",
                out -> (int) CudaDriver.cuFuncGetAttribute.invokeExact(out, attribute, handle));
    }

    public int registers() {
        return attribute(ATTR_NUM_REGS);
    }

    /** Allows launches with more than 48 KiB of dynamic shared memory (up to the device's opt-in limit). */
    public void setMaxDynamicSharedMemory(int bytes) {
        if (bytes <= maxDynamicShared) return;
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuFuncSetAttribute.invokeExact(handle, ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
                    "cuFuncSetAttribute(" + name + ", max dynamic shared memory " + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        maxDynamicShared = bytes;
    }

    /**
     * The preferred split of the SM's unified L1 / shared memory, in percent of the maximum shared
     * memory (100: as much shared memory as the SM has, so that several CTAs of a kernel with a large
     * layout fit; -1: the driver's default). A hint to the driver.
     */
    public void setPreferredSharedMemoryCarveout(int percent) {
        if (percent == carveout) return;
        context.makeCurrent();
        try {
            check((int) CudaDriver.cuFuncSetAttribute.invokeExact(handle, ATTR_PREFERRED_SHARED_MEMORY_CARVEOUT, percent),
                    "cuFuncSetAttribute(" + name + ", preferred shared memory carveout " + percent + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        carveout = percent;
    }

    /** How many CTAs of {@code blockSize} threads with {@code dynamicSharedBytes} can be resident on one SM (the driver's occupancy calculator). */
    public int maxActiveBlocksPerMultiprocessor(int blockSize, int dynamicSharedBytes) {
        context.makeCurrent();
        return CudaDriver.intOut("cuOccupancyMaxActiveBlocksPerMultiprocessor(" + name + ")",
                out -> (int) CudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor.invokeExact(out, handle, blockSize,
                        (long) dynamicSharedBytes));
    }

    /** One-dimensional launch: {@code grid} blocks of {@code block} threads. */
    public void launch(CudaStream stream, int grid, int block, int sharedBytes, Object... args) {
        launch(stream, Dim3.of(grid), Dim3.of(block), sharedBytes, args);
    }

    /** Times every launch while set (a breakdown run of a benchmark); null otherwise. */
    public interface LaunchTimer {
        void time(String kernel, CudaStream stream, Runnable launch);
    }

    private static volatile LaunchTimer timer;

    /** Sets (or, with null, clears) the timer of every kernel launch. */
    public static void timeLaunches(LaunchTimer t) {
        timer = t;
    }

    public void launch(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        LaunchTimer t = timer;
        if (t != null && !CudaGraph.capturing(stream)) {
            t.time(name, stream, () -> launchNow(stream, grid, block, sharedBytes, args));
            return;
        }
        launchNow(stream, grid, block, sharedBytes, args);
    }

    private void launchNow(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        MemorySegment pointers = prepare(grid, block, sharedBytes, args);
        try {
            int r = (int) CudaDriver.cuLaunchKernel.invokeExact(handle, grid.x(), grid.y(), grid.z(),
                    block.x(), block.y(), block.z(), sharedBytes, stream.handle(), pointers, MemorySegment.NULL);
            if (r != 0) throw launchError(r, grid, block, sharedBytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        afterLaunch(stream);
    }

    /** Whether the driver launches with attributes ({@link #launchProgrammatic}). */
    public static boolean programmaticLaunchAvailable() {
        return CudaDriver.cuLaunchKernelEx != null;
    }

    /**
     * A launch that may start before the previous kernel of the stream has finished (programmatic
     * dependent launch, cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION): for
     * kernels that execute {@code griddepcontrol.wait} before they read anything the previous kernel
     * writes, so that what they do before it (requesting weights, say) overlaps that kernel's tail.
     * Captured into a graph, the dependency becomes a programmatic edge. Timed like {@link #launch}
     * while a {@link LaunchTimer} is set and the stream is not capturing.
     */
    public void launchProgrammatic(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        if (!programmaticLaunchAvailable()) throw new CudaException("this CUDA driver has no cuLaunchKernelEx");
        LaunchTimer t = timer;
        if (t != null && !CudaGraph.capturing(stream)) {
            t.time(name, stream, () -> launchProgrammaticNow(stream, grid, block, sharedBytes, args));
            return;
        }
        launchProgrammaticNow(stream, grid, block, sharedBytes, args);
    }

    private void launchProgrammaticNow(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        MemorySegment pointers = prepare(grid, block, sharedBytes, args);
        MemorySegment config = SCRATCH.get().asSlice(16L * MAX_ARGS, CONFIG_BYTES + ATTRIBUTE_BYTES);
        MemorySegment attribute = config.asSlice(CONFIG_BYTES, ATTRIBUTE_BYTES);
        config.fill((byte) 0);
        config.set(JAVA_INT, 0, grid.x());
        config.set(JAVA_INT, 4, grid.y());
        config.set(JAVA_INT, 8, grid.z());
        config.set(JAVA_INT, 12, block.x());
        config.set(JAVA_INT, 16, block.y());
        config.set(JAVA_INT, 20, block.z());
        config.set(JAVA_INT, 24, sharedBytes);
        config.set(ADDRESS, 32, stream.handle());
        config.set(ADDRESS, 40, attribute);
        config.set(JAVA_INT, 48, 1);
        attribute.set(JAVA_INT, 0, ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
        attribute.set(JAVA_INT, 8, 1);  // value.programmaticStreamSerializationAllowed
        try {
            int r = (int) CudaDriver.cuLaunchKernelEx.invokeExact(config.asSlice(0, CONFIG_BYTES), handle, pointers, MemorySegment.NULL);
            if (r != 0) throw launchError(r, grid, block, sharedBytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        afterLaunch(stream);
    }

    /** Checks the launch and lays the arguments out as cuLaunchKernel takes them; returns the pointer array. */
    private MemorySegment prepare(Dim3 grid, Dim3 block, int sharedBytes, Object[] args) {
        if (args.length > MAX_ARGS) throw new IllegalArgumentException(name + ": more than " + MAX_ARGS + " arguments");
        if (block.x() * (long) block.y() * block.z() > 1024) {
            throw new IllegalArgumentException(name + ": block " + block + " has more than 1024 threads");
        }
        if (sharedBytes > maxDynamicShared) setMaxDynamicSharedMemory(sharedBytes);
        checkArguments(args);
        context.makeCurrent();
        MemorySegment scratch = SCRATCH.get();
        MemorySegment values = scratch.asSlice(0, 8L * MAX_ARGS);
        MemorySegment pointers = scratch.asSlice(8L * MAX_ARGS, 8L * MAX_ARGS);
        for (int i = 0; i < args.length; i++) {
            long at = 8L * i;
            switch (args[i]) {
                case null -> values.set(JAVA_LONG, at, 0L);
                case DevicePointer p -> values.set(JAVA_LONG, at, p.address());
                case Long v -> values.set(JAVA_LONG, at, v);
                case Integer v -> values.set(JAVA_INT, at, v);
                case Float v -> values.set(JAVA_FLOAT, at, v);
                case Double v -> values.set(JAVA_DOUBLE, at, v);
                default -> throw new IllegalArgumentException(name + ": argument " + i + " of unsupported type "
                        + args[i].getClass().getSimpleName());
            }
            pointers.setAtIndex(ADDRESS, i, values.asSlice(at, 8));
        }
        return pointers;
    }

    private CudaException launchError(int r, Dim3 grid, Dim3 block, int sharedBytes) {
        return CudaDriver.error(r, "cuLaunchKernel(" + name + ", grid " + grid + ", block " + block + ", " + sharedBytes + " B shared)");
    }

    private void afterLaunch(CudaStream stream) {
        if (SYNC_LAUNCHES && !CudaGraph.capturing(stream)) {
            try {
                stream.synchronize();
            } catch (CudaException e) {
                throw new CudaException("kernel " + name + " failed: " + e.getMessage());
            }
        }
    }

    private static int sizeOf(Object arg) {
        return switch (arg) {
            case null -> 8;
            case DevicePointer p -> 8;
            case Long v -> 8;
            case Double v -> 8;
            case Integer v -> 4;
            case Float v -> 4;
            default -> -1;
        };
    }

    private void checkArguments(Object[] args) {
        if (parameterSizes == null) return;
        boolean ok = args.length == parameterSizes.length;
        for (int i = 0; ok && i < args.length; i++) ok = sizeOf(args[i]) == parameterSizes[i];
        if (!ok) {
            int[] given = Arrays.stream(args).mapToInt(CudaFunction::sizeOf).toArray();
            throw new IllegalArgumentException("kernel " + name + " takes parameters of sizes "
                    + Arrays.toString(parameterSizes) + " but was launched with sizes " + Arrays.toString(given));
        }
    }
}
