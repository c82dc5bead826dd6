package gsat2r.gpu.nccl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import gsat2r.gpu.cuda.NativeLibrary;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;

/**
 * Downcall handles into NCCL ({@code libnccl.so.2}), bound after {@link Nccl} found the library.
 * C types map as: ncclResult_t, ncclDataType_t, ncclRedOp_t, int → int; size_t → long; ncclComm_t,
 * cudaStream_t (a CUstream), device pointers (void*) and host pointers → address; ncclUniqueId, a struct
 * of 128 chars, is passed BY VALUE to ncclCommInitRank ({@link #UNIQUE_ID}). Signatures from nccl.h of
 * NCCL 2.18–2.28 (unchanged across them).
 */
@SuppressWarnings("restricted")  // FFM: binding native symbols is the point of this class
final class NcclLibrary {
    private NcclLibrary() {}

    private static final NativeLibrary LIB = Nccl.library();

    /** {@code typedef struct { char internal[128]; } ncclUniqueId;} */
    static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(NcclUniqueId.BYTES, JAVA_BYTE).withName("internal"));

    private static MethodHandle bind(FunctionDescriptor d, String symbol) {
        return LIB.bind(d, symbol);
    }

    private static FunctionDescriptor ret(MemoryLayout... args) {
        return FunctionDescriptor.of(JAVA_INT, args);
    }

    static final MethodHandle ncclGetVersion = bind(ret(ADDRESS), "ncclGetVersion");
    static final MethodHandle ncclGetUniqueId = bind(ret(ADDRESS), "ncclGetUniqueId");
    static final MethodHandle ncclGetErrorString = bind(FunctionDescriptor.of(ADDRESS, JAVA_INT), "ncclGetErrorString");
    /** const char* ncclGetLastError(ncclComm_t comm); comm may be NULL. */
    static final MethodHandle ncclGetLastError = bind(FunctionDescriptor.of(ADDRESS, ADDRESS), "ncclGetLastError");
    static final MethodHandle ncclCommInitRank = bind(ret(ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT), "ncclCommInitRank");
    static final MethodHandle ncclCommInitAll = bind(ret(ADDRESS, JAVA_INT, ADDRESS), "ncclCommInitAll");
    static final MethodHandle ncclCommDestroy = bind(ret(ADDRESS), "ncclCommDestroy");
    static final MethodHandle ncclCommAbort = bind(ret(ADDRESS), "ncclCommAbort");
    static final MethodHandle ncclCommGetAsyncError = bind(ret(ADDRESS, ADDRESS), "ncclCommGetAsyncError");
    static final MethodHandle ncclCommCount = bind(ret(ADDRESS, ADDRESS), "ncclCommCount");
    static final MethodHandle ncclCommCuDevice = bind(ret(ADDRESS, ADDRESS), "ncclCommCuDevice");
    static final MethodHandle ncclCommUserRank = bind(ret(ADDRESS, ADDRESS), "ncclCommUserRank");
    static final MethodHandle ncclAllReduce = bind(ret(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), "ncclAllReduce");
    static final MethodHandle ncclReduceScatter = bind(ret(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), "ncclReduceScatter");
    static final MethodHandle ncclAllGather = bind(ret(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS), "ncclAllGather");
    static final MethodHandle ncclBroadcast = bind(ret(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), "ncclBroadcast");
    static final MethodHandle ncclGroupStart = bind(ret(), "ncclGroupStart");
    static final MethodHandle ncclGroupEnd = bind(ret(), "ncclGroupEnd");

    static final int SUCCESS = 0;

    /** nccl.h's name of a result code. */
    static String resultName(int result) {
        return switch (result) {
            case 0 -> "ncclSuccess";
            case 1 -> "ncclUnhandledCudaError";
            case 2 -> "ncclSystemError";
            case 3 -> "ncclInternalError";
            case 4 -> "ncclInvalidArgument";
            case 5 -> "ncclInvalidUsage";
            case 6 -> "ncclRemoteError";
            case 7 -> "ncclInProgress";
            case 8 -> "ncclTimeout";
            default -> "ncclResult_t " + result;
        };
    }

    /** NCCL's description of a result code ({@code ncclGetErrorString}). */
    static String errorString(int result) {
        try {
            MemorySegment s = (MemorySegment) ncclGetErrorString.invokeExact(result);
            return s.equals(MemorySegment.NULL) ? null : s.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            return null;
        }
    }

    /** NCCL's last error message for {@code comm} (or the thread's, for NULL), or null when empty. */
    static String lastError(MemorySegment comm) {
        try {
            MemorySegment s = (MemorySegment) ncclGetLastError.invokeExact(comm);
            if (s.equals(MemorySegment.NULL)) return null;
            String m = s.reinterpret(4096).getString(0).strip();
            return m.isEmpty() ? null : m.replace('\n', ' ');
        } catch (Throwable t) {
            return null;
        }
    }

    /** Throws a one-line {@link NcclException} naming {@code operation} unless {@code result} is ncclSuccess. */
    static void check(int result, String operation, MemorySegment comm) {
        if (result == SUCCESS) return;
        String detail = errorString(result);
        String last = lastError(comm);
        if (last != null && (detail == null || !detail.contains(last))) detail = (detail == null ? "" : detail + "; ") + "last: " + last;
        throw new NcclException(operation, resultName(result), detail);
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
