package gsat2r.gpu.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Matrix products through cuBLASLt ({@code libcublasLt.so.13}): one handle, one device workspace,
 * and a cache of plans (operation descriptor, three layouts, and the algorithm the heuristic chose)
 * per distinct {@link MatmulShape} and operand alignment, so that a training step's repeated
 * shapes pay the descriptor set-up and the heuristic query once.
 *
 * <p>Operands are row-major; cuBLASLt is column-major, so the product is computed as
 * {@code C^T = op(B)^T op(A)^T}: B is passed as the first operand and A as the second, with their
 * transposes unchanged, which reads the row-major storage as the transposed column-major one.
 *
 * <p>One workspace and one pair of alpha/beta scalars per handle: use a handle from one thread and
 * one stream at a time.
 */
@SuppressWarnings("restricted")  // FFM: binding native symbols and sizing native pointers is the point of this class
public final class CublasLt implements AutoCloseable {

    /** cudaDataType values of the operand types supported here. */
    public enum DataType {
        F32(0, 4), BF16(14, 2);

        final int code;
        final int bytes;

        DataType(int code, int bytes) {
            this.code = code;
            this.bytes = bytes;
        }

        public int bytes() {
            return bytes;
        }
    }

    /** cublasComputeType_t: fp32 accumulation; TF32 lets fp32 inputs use the tensor cores. */
    public enum Compute {
        F32(68), F32_FAST_TF32(77);

        final int code;

        Compute(int code) {
            this.code = code;
        }
    }

    public static final long DEFAULT_WORKSPACE_BYTES = 32L << 20;  // what cuBLAS recommends for Hopper

    // ---- bindings -------------------------------------------------------------------------------

    private static final class Api {
        static final NativeLibrary LIB;
        static final String UNAVAILABLE;

        static {
            List<String> candidates = new ArrayList<>(List.of("libcublasLt.so.13"));
            String cudaHome = System.getenv("CUDA_HOME");
            if (cudaHome != null) candidates.add(cudaHome + "/lib64/libcublasLt.so.13");
            candidates.addAll(List.of("/usr/local/cuda/lib64/libcublasLt.so.13", "/usr/local/cuda-13.0/lib64/libcublasLt.so.13",
                    "/usr/local/cuda/targets/x86_64-linux/lib/libcublasLt.so.13", "/usr/lib/x86_64-linux-gnu/libcublasLt.so.13"));
            NativeLibrary.Opened opened = NativeLibrary.open(candidates);
            LIB = opened.library();
            UNAVAILABLE = LIB == null ? "cuBLASLt not found (" + opened.failure() + ")" : null;
        }

        static MethodHandle bind(String symbol, MemoryLayout... args) {
            return LIB.bind(FunctionDescriptor.of(JAVA_INT, args), symbol);
        }
    }

    private static final class Fn {
        static final MethodHandle create = Api.bind("cublasLtCreate", ADDRESS);
        static final MethodHandle destroy = Api.bind("cublasLtDestroy", ADDRESS);
        static final MethodHandle descCreate = Api.bind("cublasLtMatmulDescCreate", ADDRESS, JAVA_INT, JAVA_INT);
        static final MethodHandle descDestroy = Api.bind("cublasLtMatmulDescDestroy", ADDRESS);
        static final MethodHandle descSet = Api.bind("cublasLtMatmulDescSetAttribute", ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
        static final MethodHandle layoutCreate = Api.bind("cublasLtMatrixLayoutCreate", ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG);
        static final MethodHandle layoutDestroy = Api.bind("cublasLtMatrixLayoutDestroy", ADDRESS);
        static final MethodHandle layoutSet = Api.bind("cublasLtMatrixLayoutSetAttribute", ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
        static final MethodHandle prefCreate = Api.bind("cublasLtMatmulPreferenceCreate", ADDRESS);
        static final MethodHandle prefDestroy = Api.bind("cublasLtMatmulPreferenceDestroy", ADDRESS);
        static final MethodHandle prefSet = Api.bind("cublasLtMatmulPreferenceSetAttribute", ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
        static final MethodHandle heuristic = Api.bind("cublasLtMatmulAlgoGetHeuristic",
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
        // Device pointers travel as 64-bit integers (the same registers as void* in the C ABI).
        static final MethodHandle matmul = Api.bind("cublasLtMatmul",
                ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS,
                JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
        static final MethodHandle statusName = Api.LIB.find("cublasLtGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT)).orElse(null);
        static final MethodHandle version = Api.LIB.find("cublasLtGetVersion", FunctionDescriptor.of(JAVA_LONG)).orElse(null);
    }

    // Attribute enums (cublasLt.h).
    private static final int DESC_TRANSA = 3, DESC_TRANSB = 4;
    private static final int LAYOUT_BATCH_COUNT = 5, LAYOUT_STRIDED_BATCH_OFFSET = 6;
    private static final int PREF_MAX_WORKSPACE_BYTES = 1;
    private static final int PREF_MIN_ALIGNMENT_A = 5, PREF_MIN_ALIGNMENT_B = 6, PREF_MIN_ALIGNMENT_C = 7, PREF_MIN_ALIGNMENT_D = 8;
    private static final int OP_N = 0, OP_T = 1;
    private static final int CUDA_R_32F = 0;
    private static final long HEURISTIC_RESULT_BYTES = 96;  // algo (64), workspaceSize, state, wavesCount, reserved[4]

    public static boolean available() {
        return Cuda.available() && Api.UNAVAILABLE == null;
    }

    public static void requireAvailable() {
        Cuda.requireAvailable();
        if (Api.UNAVAILABLE != null) throw new CudaException(Api.UNAVAILABLE);
    }

    /** The cuBLASLt version number (e.g. 130001 for 13.0.1), or -1 when unknown. */
    public static long version() {
        requireAvailable();
        if (Fn.version == null) return -1;
        try {
            return (long) Fn.version.invokeExact();
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    static String statusName(int status) {
        if (Fn.statusName != null) {
            try {
                MemorySegment s = (MemorySegment) Fn.statusName.invokeExact(status);
                if (!s.equals(MemorySegment.NULL)) return s.reinterpret(128).getString(0);
            } catch (Throwable ignored) {
                // fall through to the table
            }
        }
        return switch (status) {
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "cublasStatus " + status;
        };
    }

    static void check(int status, String operation) {
        if (status != 0) throw new CudaException(operation, statusName(status), null);
    }

    // ---- the handle -----------------------------------------------------------------------------

    private final CudaContext context;
    private final MemorySegment handle;
    private final long workspace;
    private final long workspaceBytes;
    private final Arena arena = Arena.ofShared();  // plans' descriptors and algorithms
    private final MemorySegment scalars = arena.allocate(8, 8);  // alpha, beta (read during the call)
    private final Map<PlanKey, Plan> plans = new HashMap<>();
    private boolean closed;

    private CublasLt(CudaContext context, MemorySegment handle, long workspace, long workspaceBytes) {
        this.context = context;
        this.handle = handle;
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
    }

    /** A handle with its own device workspace of {@code workspaceBytes}. */
    public static CublasLt create(CudaContext context, long workspaceBytes) {
        requireAvailable();
        context.makeCurrent();
        MemorySegment h;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check((int) Fn.create.invokeExact(out), "cublasLtCreate");
            h = out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
        long ws = context.allocate(workspaceBytes);
        return new CublasLt(context, h, ws, workspaceBytes);
    }

    private record PlanKey(MatmulShape shape, int alignA, int alignB, int alignC) {}

    private record Plan(MemorySegment desc, MemorySegment layoutA, MemorySegment layoutB, MemorySegment layoutC,
                        MemorySegment algo, long workspaceNeeded) {}

    /** The largest power of two up to 256 that divides the address: what the heuristic may assume. */
    private static int alignment(long address) {
        return (int) Math.min(256, Long.lowestOneBit(address == 0 ? 256 : address));
    }

    /**
     * {@code C = alpha * op(A) op(B) + beta * C} (row-major, see {@link MatmulShape}) on
     * {@code stream}. {@code a}, {@code b}, {@code c} are device addresses; with beta = 0, C is
     * only written.
     */
    public void matmul(MatmulShape shape, long a, long b, long c, float alpha, float beta, CudaStream stream) {
        if (closed) throw new IllegalStateException("cuBLASLt handle is closed");
        context.makeCurrent();
        Plan plan = plans.computeIfAbsent(new PlanKey(shape, alignment(a), alignment(b), alignment(c)), this::makePlan);
        scalars.set(JAVA_FLOAT, 0, alpha);
        scalars.set(JAVA_FLOAT, 4, beta);
        int r;
        try {
            // First cuBLASLt operand: our B; second: our A (see the class comment).
            r = (int) Fn.matmul.invokeExact(handle, plan.desc(), scalars.asSlice(0, 4), b, plan.layoutA(), a, plan.layoutB(),
                    scalars.asSlice(4, 4), c, plan.layoutC(), c, plan.layoutC(), plan.algo(), workspace, workspaceBytes,
                    stream.handle());
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
        if (r != 0) check(r, "cublasLtMatmul(" + describe(shape) + ")");
    }

    public static String describe(MatmulShape s) {
        return (s.transA() ? "A^T" : "A") + (s.transB() ? "B^T" : "B") + " m=" + s.m() + " n=" + s.n() + " k=" + s.k()
                + (s.batch() > 1 ? " batch=" + s.batch() : "") + " " + s.abType() + "->" + s.cType() + " " + s.compute();
    }

    private Plan makePlan(PlanKey key) {
        MatmulShape s = key.shape();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment out = tmp.allocate(ADDRESS);
            check((int) Fn.descCreate.invokeExact(out, s.compute().code, CUDA_R_32F), "cublasLtMatmulDescCreate");
            MemorySegment desc = out.get(ADDRESS, 0);
            setInt(Fn.descSet, desc, DESC_TRANSA, s.transB() ? OP_T : OP_N, "TRANSA", tmp);
            setInt(Fn.descSet, desc, DESC_TRANSB, s.transA() ? OP_T : OP_N, "TRANSB", tmp);

            // Column-major views of the row-major storage (rows and columns swap).
            MemorySegment la = layout(s.abType(), s.transB() ? s.k() : s.n(), s.transB() ? s.n() : s.k(), s.ldb(),
                    s.batch(), s.strideB(), tmp);
            MemorySegment lb = layout(s.abType(), s.transA() ? s.m() : s.k(), s.transA() ? s.k() : s.m(), s.lda(),
                    s.batch(), s.strideA(), tmp);
            MemorySegment lc = layout(s.cType(), s.n(), s.m(), s.ldc(), s.batch(), s.strideC(), tmp);

            check((int) Fn.prefCreate.invokeExact(out), "cublasLtMatmulPreferenceCreate");
            MemorySegment pref = out.get(ADDRESS, 0);
            try {
                setLong(Fn.prefSet, pref, PREF_MAX_WORKSPACE_BYTES, workspaceBytes, "MAX_WORKSPACE_BYTES", tmp);
                setInt(Fn.prefSet, pref, PREF_MIN_ALIGNMENT_A, key.alignB(), "MIN_ALIGNMENT_A", tmp);
                setInt(Fn.prefSet, pref, PREF_MIN_ALIGNMENT_B, key.alignA(), "MIN_ALIGNMENT_B", tmp);
                setInt(Fn.prefSet, pref, PREF_MIN_ALIGNMENT_C, key.alignC(), "MIN_ALIGNMENT_C", tmp);
                setInt(Fn.prefSet, pref, PREF_MIN_ALIGNMENT_D, key.alignC(), "MIN_ALIGNMENT_D", tmp);
                MemorySegment result = tmp.allocate(HEURISTIC_RESULT_BYTES, 8);
                MemorySegment count = tmp.allocate(JAVA_INT);
                check((int) Fn.heuristic.invokeExact(handle, desc, la, lb, lc, lc, pref, 1, result, count),
                        "cublasLtMatmulAlgoGetHeuristic(" + describe(s) + ")");
                if (count.get(JAVA_INT, 0) < 1) {
                    throw new CudaException("cublasLtMatmulAlgoGetHeuristic(" + describe(s) + "): no algorithm for this shape");
                }
                int state = result.get(JAVA_INT, 72);
                if (state != 0) check(state, "cublasLtMatmulAlgoGetHeuristic(" + describe(s) + ") result");
                MemorySegment algo = arena.allocate(64, 8);
                algo.copyFrom(result.asSlice(0, 64));
                long needed = result.get(JAVA_LONG, 64);
                return new Plan(desc, la, lb, lc, algo, needed);
            } finally {
                check((int) Fn.prefDestroy.invokeExact(pref), "cublasLtMatmulPreferenceDestroy");
            }
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    private static MemorySegment layout(DataType type, long rows, long cols, long ld, int batch, long stride, Arena tmp) throws Throwable {
        MemorySegment out = tmp.allocate(ADDRESS);
        check((int) Fn.layoutCreate.invokeExact(out, type.code, rows, cols, ld),
                "cublasLtMatrixLayoutCreate(" + rows + "x" + cols + ", ld " + ld + ")");
        MemorySegment l = out.get(ADDRESS, 0);
        if (batch > 1) {
            setInt(Fn.layoutSet, l, LAYOUT_BATCH_COUNT, batch, "BATCH_COUNT", tmp);
            setLong(Fn.layoutSet, l, LAYOUT_STRIDED_BATCH_OFFSET, stride, "STRIDED_BATCH_OFFSET", tmp);
        }
        return l;
    }

    private static void setInt(MethodHandle setter, MemorySegment obj, int attr, int value, String what, Arena tmp) throws Throwable {
        MemorySegment v = tmp.allocate(JAVA_INT);
        v.set(JAVA_INT, 0, value);
        check((int) setter.invokeExact(obj, attr, v, 4L), "cublasLt set " + what + "=" + value);
    }

    private static void setLong(MethodHandle setter, MemorySegment obj, int attr, long value, String what, Arena tmp) throws Throwable {
        MemorySegment v = tmp.allocate(JAVA_LONG);
        v.set(JAVA_LONG, 0, value);
        check((int) setter.invokeExact(obj, attr, v, 8L), "cublasLt set " + what + "=" + value);
    }

    /** Distinct plans made so far (each a heuristic query). */
    public int planCount() {
        return plans.size();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        try {
            for (Plan p : plans.values()) {
                check((int) Fn.layoutDestroy.invokeExact(p.layoutA()), "cublasLtMatrixLayoutDestroy");
                check((int) Fn.layoutDestroy.invokeExact(p.layoutB()), "cublasLtMatrixLayoutDestroy");
                check((int) Fn.layoutDestroy.invokeExact(p.layoutC()), "cublasLtMatrixLayoutDestroy");
                check((int) Fn.descDestroy.invokeExact(p.desc()), "cublasLtMatmulDescDestroy");
            }
            plans.clear();
            check((int) Fn.destroy.invokeExact(handle), "cublasLtDestroy");
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        } finally {
            context.free(workspace);
            arena.close();
        }
    }
}
