package gsat2r.gpu.nccl;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import gsat2r.gpu.cuda.NativeLibrary;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether NCCL can be used here, decided once: {@code libnccl.so.2} loads (the dynamic loader's path,
 * then the usual install locations, or the file named by the environment variable {@code T2R_NCCL}) and
 * {@code ncclGetVersion} answers. Without it (CI, a laptop) {@link #available()} is false and every entry
 * point of this package throws the same one-line reason.
 *
 * <p>What is bound (docs/distributed.md): unique ids, {@link NcclCommunicator} (ncclCommInitRank,
 * ncclCommInitAll, all-reduce, reduce-scatter, all-gather, broadcast, ncclGroupStart/End,
 * ncclCommGetAsyncError, ncclCommAbort/Destroy), with every call checked. Not bound:
 * ncclCommInitRankConfig: its {@code ncclConfig_t} grows with every NCCL release (its size and version
 * are fields of the struct) and the defaults are what we want, so binding it would only add a layout to
 * keep in step with the library.
 */
public final class Nccl {
    private Nccl() {}

    private static final class Probe {
        static final NativeLibrary LIBRARY;
        static final String UNAVAILABLE;   // null when available
        static final int VERSION;

        static {
            List<String> candidates = new ArrayList<>();
            String override = System.getenv("T2R_NCCL");
            if (override != null && !override.isBlank()) candidates.add(override.strip());
            candidates.addAll(List.of("libnccl.so.2", "/usr/lib/x86_64-linux-gnu/libnccl.so.2", "/usr/local/cuda/lib64/libnccl.so.2",
                    "/usr/lib64/libnccl.so.2", "/usr/lib/libnccl.so.2"));
            NativeLibrary.Opened opened = NativeLibrary.open(candidates);
            NativeLibrary lib = opened.library();
            String reason = null;
            int version = -1;
            if (lib == null) {
                reason = "no NCCL found (libnccl.so.2 does not load here; install NCCL, or name the library in T2R_NCCL)";
            } else {
                try {
                    version = readVersion(lib);
                } catch (RuntimeException | LinkageError e) {
                    lib = null;
                    reason = "NCCL found (" + opened.library().name() + ") but unusable: " + e.getMessage();
                }
            }
            LIBRARY = lib;
            UNAVAILABLE = reason;
            VERSION = version;
        }

        private static int readVersion(NativeLibrary lib) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(JAVA_INT);
                int r = (int) lib.bind(java.lang.foreign.FunctionDescriptor.of(JAVA_INT, java.lang.foreign.ValueLayout.ADDRESS), "ncclGetVersion")
                        .invokeExact(out);
                if (r != 0) throw new NcclException("ncclGetVersion returned " + r);
                return out.get(JAVA_INT, 0);
            } catch (Throwable t) {
                throw NcclLibrary.rethrow(t);
            }
        }
    }

    /** True when libnccl.so.2 loads and answers. */
    public static boolean available() {
        return Probe.UNAVAILABLE == null;
    }

    /** Why NCCL cannot be used, in one line; null when it can. */
    public static String unavailableReason() {
        return Probe.UNAVAILABLE;
    }

    public static void requireAvailable() {
        if (Probe.UNAVAILABLE != null) throw new NcclException(Probe.UNAVAILABLE);
    }

    /** NCCL_VERSION_CODE of the library: major·10000 + minor·100 + patch (e.g. 22703 for 2.27.3). */
    public static int version() {
        requireAvailable();
        return Probe.VERSION;
    }

    /** {@link #version()} as {@code 2.27.3}. */
    public static String versionString() {
        int v = version();
        return v >= 20900 ? v / 10000 + "." + v / 100 % 100 + "." + v % 100 : v / 1000 + "." + v / 100 % 10 + "." + v % 100;
    }

    /** A new unique id (ncclGetUniqueId): rank 0 creates it and the run hands it to every rank. */
    public static NcclUniqueId uniqueId() {
        requireAvailable();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment id = arena.allocate(NcclLibrary.UNIQUE_ID);
            NcclLibrary.check((int) NcclLibrary.ncclGetUniqueId.invokeExact(id), "ncclGetUniqueId", MemorySegment.NULL);
            return new NcclUniqueId(id.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        } catch (Throwable t) {
            throw NcclLibrary.rethrow(t);
        }
    }

    /** NCCL's text for a result code (ncclGetErrorString), e.g. "invalid argument (run with NCCL_DEBUG=WARN for details)". */
    public static String errorString(int result) {
        requireAvailable();
        return NcclLibrary.errorString(result);
    }

    /** Runs {@code body} between ncclGroupStart and ncclGroupEnd: its NCCL calls are issued as one (e.g. one thread driving several GPUs). */
    public static void group(Runnable body) {
        requireAvailable();
        try {
            NcclLibrary.check((int) NcclLibrary.ncclGroupStart.invokeExact(), "ncclGroupStart", MemorySegment.NULL);
        } catch (Throwable t) {
            throw NcclLibrary.rethrow(t);
        }
        Throwable failure = null;
        try {
            body.run();
        } catch (Throwable t) {
            failure = t;
        }
        try {
            NcclLibrary.check((int) NcclLibrary.ncclGroupEnd.invokeExact(), "ncclGroupEnd", MemorySegment.NULL);
        } catch (Throwable t) {
            if (failure == null) throw NcclLibrary.rethrow(t);
            failure.addSuppressed(t);
        }
        if (failure != null) throw NcclLibrary.rethrow(failure);
    }

    static NativeLibrary library() {
        requireAvailable();
        return Probe.LIBRARY;
    }
}
