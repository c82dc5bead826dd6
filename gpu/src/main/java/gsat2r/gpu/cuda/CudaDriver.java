package gsat2r.gpu.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Downcall handles into the CUDA driver API ({@code libcuda.so.1}) and thin checked wrappers.
 * C types map as: CUresult, CUdevice, enums, unsigned int → int; size_t, CUdeviceptr → long;
 * handles (CUcontext, CUstream, CUevent, CUmodule, CUfunction) and host pointers → address.
 * The versioned symbols ({@code _v2}) are the ones cuda.h 13 binds the plain names to.
 * Loaded only after {@link Cuda} found the library.
 */
@SuppressWarnings("restricted")  // FFM: binding native symbols and sizing native pointers is the point of this class
final class CudaDriver {
    private CudaDriver() {}

    private static final NativeLibrary LIB = Cuda.driverLibrary();

    private static MethodHandle bind(FunctionDescriptor d, String... symbols) {
        return LIB.bind(d, symbols);
    }

    private static FunctionDescriptor ret(java.lang.foreign.MemoryLayout... args) {
        return FunctionDescriptor.of(JAVA_INT, args);
    }

    static final MethodHandle cuInit = bind(ret(JAVA_INT), "cuInit");
    static final MethodHandle cuDriverGetVersion = bind(ret(ADDRESS), "cuDriverGetVersion");
    static final MethodHandle cuGetErrorName = bind(ret(JAVA_INT, ADDRESS), "cuGetErrorName");
    static final MethodHandle cuGetErrorString = bind(ret(JAVA_INT, ADDRESS), "cuGetErrorString");
    static final MethodHandle cuDeviceGetCount = bind(ret(ADDRESS), "cuDeviceGetCount");
    static final MethodHandle cuDeviceGet = bind(ret(ADDRESS, JAVA_INT), "cuDeviceGet");
    static final MethodHandle cuDeviceGetName = bind(ret(ADDRESS, JAVA_INT, JAVA_INT), "cuDeviceGetName");
    static final MethodHandle cuDeviceTotalMem = bind(ret(ADDRESS, JAVA_INT), "cuDeviceTotalMem_v2");
    static final MethodHandle cuDeviceGetAttribute = bind(ret(ADDRESS, JAVA_INT, JAVA_INT), "cuDeviceGetAttribute");
    static final MethodHandle cuDevicePrimaryCtxRetain = bind(ret(ADDRESS, JAVA_INT), "cuDevicePrimaryCtxRetain");
    static final MethodHandle cuDevicePrimaryCtxRelease = bind(ret(JAVA_INT), "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease");
    static final MethodHandle cuCtxSetCurrent = bind(ret(ADDRESS), "cuCtxSetCurrent");
    static final MethodHandle cuCtxSynchronize = bind(ret(), "cuCtxSynchronize");
    static final MethodHandle cuMemGetInfo = bind(ret(ADDRESS, ADDRESS), "cuMemGetInfo_v2");
    static final MethodHandle cuMemAlloc = bind(ret(ADDRESS, JAVA_LONG), "cuMemAlloc_v2");
    static final MethodHandle cuMemFree = bind(ret(JAVA_LONG), "cuMemFree_v2");
    static final MethodHandle cuMemAllocHost = bind(ret(ADDRESS, JAVA_LONG), "cuMemAllocHost_v2");
    static final MethodHandle cuMemFreeHost = bind(ret(ADDRESS), "cuMemFreeHost");
    static final MethodHandle cuMemcpyHtoD = bind(ret(JAVA_LONG, ADDRESS, JAVA_LONG), "cuMemcpyHtoD_v2");
    static final MethodHandle cuMemcpyDtoH = bind(ret(ADDRESS, JAVA_LONG, JAVA_LONG), "cuMemcpyDtoH_v2");
    static final MethodHandle cuMemcpyDtoD = bind(ret(JAVA_LONG, JAVA_LONG, JAVA_LONG), "cuMemcpyDtoD_v2");
    static final MethodHandle cuMemcpyHtoDAsync = bind(ret(JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS), "cuMemcpyHtoDAsync_v2");
    static final MethodHandle cuMemcpyDtoHAsync = bind(ret(ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS), "cuMemcpyDtoHAsync_v2");
    static final MethodHandle cuMemcpyDtoDAsync = bind(ret(JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS), "cuMemcpyDtoDAsync_v2");
    static final MethodHandle cuMemsetD8Async = bind(ret(JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS), "cuMemsetD8Async");
    static final MethodHandle cuMemsetD16Async = bind(ret(JAVA_LONG, JAVA_SHORT, JAVA_LONG, ADDRESS), "cuMemsetD16Async");
    static final MethodHandle cuMemsetD32Async = bind(ret(JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS), "cuMemsetD32Async");
    static final MethodHandle cuStreamCreate = bind(ret(ADDRESS, JAVA_INT), "cuStreamCreate");
    static final MethodHandle cuStreamDestroy = bind(ret(ADDRESS), "cuStreamDestroy_v2");
    static final MethodHandle cuStreamSynchronize = bind(ret(ADDRESS), "cuStreamSynchronize");
    static final MethodHandle cuStreamWaitEvent = bind(ret(ADDRESS, ADDRESS, JAVA_INT), "cuStreamWaitEvent");
    static final MethodHandle cuEventCreate = bind(ret(ADDRESS, JAVA_INT), "cuEventCreate");
    static final MethodHandle cuEventDestroy = bind(ret(ADDRESS), "cuEventDestroy_v2");
    static final MethodHandle cuEventRecord = bind(ret(ADDRESS, ADDRESS), "cuEventRecord");
    static final MethodHandle cuEventSynchronize = bind(ret(ADDRESS), "cuEventSynchronize");
    static final MethodHandle cuEventElapsedTime = bind(ret(ADDRESS, ADDRESS, ADDRESS), "cuEventElapsedTime_v2", "cuEventElapsedTime");
    static final MethodHandle cuModuleLoadData = bind(ret(ADDRESS, ADDRESS), "cuModuleLoadData");
    static final MethodHandle cuModuleUnload = bind(ret(ADDRESS), "cuModuleUnload");
    static final MethodHandle cuModuleGetFunction = bind(ret(ADDRESS, ADDRESS, ADDRESS), "cuModuleGetFunction");
    static final MethodHandle cuFuncSetAttribute = bind(ret(ADDRESS, JAVA_INT, JAVA_INT), "cuFuncSetAttribute");
    static final MethodHandle cuFuncGetAttribute = bind(ret(ADDRESS, JAVA_INT, ADDRESS), "cuFuncGetAttribute");
    static final MethodHandle cuOccupancyMaxActiveBlocksPerMultiprocessor =
            bind(ret(ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG), "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    /** Optional (driver 12.4+): parameter offsets and sizes, used to check launch arguments. */
    static final MethodHandle cuFuncGetParamInfo =
            LIB.find("cuFuncGetParamInfo", ret(ADDRESS, JAVA_LONG, ADDRESS, ADDRESS)).orElse(null);
    static final MethodHandle cuLaunchKernel = bind(ret(ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS), "cuLaunchKernel");

    // Optional (driver 12.0+): launches with attributes (programmatic dependent launch) and CUDA graphs
    // captured from a stream. Null when the driver lacks them: decoding then launches op by op.
    static final MethodHandle cuLaunchKernelEx = LIB.find("cuLaunchKernelEx", ret(ADDRESS, ADDRESS, ADDRESS, ADDRESS)).orElse(null);
    static final MethodHandle cuStreamBeginCapture = LIB.find("cuStreamBeginCapture_v2", ret(ADDRESS, JAVA_INT)).orElse(null);
    static final MethodHandle cuStreamEndCapture = LIB.find("cuStreamEndCapture", ret(ADDRESS, ADDRESS)).orElse(null);
    static final MethodHandle cuStreamIsCapturing = LIB.find("cuStreamIsCapturing", ret(ADDRESS, ADDRESS)).orElse(null);
    static final MethodHandle cuGraphInstantiateWithFlags =
            LIB.find("cuGraphInstantiateWithFlags", ret(ADDRESS, ADDRESS, JAVA_LONG)).orElse(null);
    static final MethodHandle cuGraphLaunch = LIB.find("cuGraphLaunch", ret(ADDRESS, ADDRESS)).orElse(null);
    static final MethodHandle cuGraphExecDestroy = LIB.find("cuGraphExecDestroy", ret(ADDRESS)).orElse(null);
    static final MethodHandle cuGraphDestroy = LIB.find("cuGraphDestroy", ret(ADDRESS)).orElse(null);

    static final int CUDA_SUCCESS = 0;
    static final int CUDA_ERROR_INVALID_VALUE = 1;

    /** Throws a {@link CudaException} naming the operation and the error when {@code result} is not success. */
    static void check(int result, String operation) {
        if (result != CUDA_SUCCESS) throw error(result, operation);
    }

    static CudaException error(int result, String operation) {
        return new CudaException(operation, errorName(result), errorString(result));
    }

    static String errorName(int result) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocate(ADDRESS);
            int r = (int) cuGetErrorName.invokeExact(result, p);
            if (r != CUDA_SUCCESS) return "CUresult " + result;
            return p.get(ADDRESS, 0).reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "CUresult " + result;
        }
    }

    static String errorString(int result) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocate(ADDRESS);
            int r = (int) cuGetErrorString.invokeExact(result, p);
            if (r != CUDA_SUCCESS) return null;
            return p.get(ADDRESS, 0).reinterpret(1024).getString(0);
        } catch (Throwable t) {
            return null;
        }
    }

    /** Rethrows what a downcall threw: only errors of the Java side (no native exception crosses FFM). */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    // ---- calls used before any context exists -------------------------------------------------

    static int initAndCountDevices() {
        try {
            check((int) cuInit.invokeExact(0), "cuInit");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return deviceCount();
    }

    static int deviceCount() {
        return intOut("cuDeviceGetCount", out -> (int) cuDeviceGetCount.invokeExact(out));
    }

    static int driverVersion() {
        return intOut("cuDriverGetVersion", out -> (int) cuDriverGetVersion.invokeExact(out));
    }

    @FunctionalInterface
    interface OutCall {
        int call(MemorySegment out) throws Throwable;
    }

    /** Calls a function whose result comes back through one int out-parameter. */
    static int intOut(String operation, OutCall call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);  // room for an int, a long or a pointer
            check(call.call(out), operation);
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long longOut(String operation, OutCall call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check(call.call(out), operation);
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment pointerOut(String operation, OutCall call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check(call.call(out), operation);
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static float floatOut(String operation, OutCall call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_FLOAT);
            check(call.call(out), operation);
            return out.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
