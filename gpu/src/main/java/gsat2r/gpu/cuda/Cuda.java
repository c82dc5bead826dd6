package gsat2r.gpu.cuda;

import java.util.List;

/**
 * Whether CUDA can be used here, decided once: the driver library {@code libcuda.so.1} loads,
 * {@code cuInit} succeeds and at least one device exists. Everything in this package checks
 * {@link #requireAvailable()} before its first driver call, so that a machine without CUDA (CI,
 * a laptop) gets one line saying so instead of a linkage error.
 */
public final class Cuda {
    private Cuda() {}

    /** The fatbin that the Maven build compiles with nvcc (gpu/pom.xml); absent from a build without the CUDA toolkit. */
    public static final String KERNELS_RESOURCE = "/gsat2r/gpu/kernels.fatbin";

    /** Why CUDA cannot be used by a build without its kernels, and how to get them. */
    public static final String NO_KERNELS = "this t2r was built without its CUDA kernels (no nvcc at build time, or"
            + " -Dgpu.kernels.skip=true): rebuild with 'mvn package' and the CUDA toolkit (nvcc on the PATH, or CUDA_HOME) to use --device cuda";

    private static final class Probe {
        static final NativeLibrary LIBRARY;
        static final String UNAVAILABLE;  // null when available

        static {
            NativeLibrary.Opened opened = NativeLibrary.open(List.of("libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                    "/usr/lib64/libcuda.so.1", "/usr/lib/libcuda.so.1"));
            LIBRARY = opened.library();
            String reason = null;
            if (LIBRARY == null) {
                reason = "no CUDA driver found (libcuda.so.1 does not load here; is the NVIDIA driver installed?)";
            } else {
                try {
                    int count = CudaDriver.initAndCountDevices();
                    if (count == 0) reason = "no CUDA device found (the driver reports 0 devices)";
                } catch (CudaException e) {
                    reason = "CUDA driver found but unusable: " + e.getMessage();
                } catch (LinkageError e) {  // a symbol this program binds is missing from the driver
                    Throwable cause = e.getCause() != null ? e.getCause() : e;
                    reason = "CUDA driver found but unusable: " + cause.getMessage();
                }
            }
            // A build without kernels says so first: on any machine it cannot run one, and rebuilding is the fix.
            UNAVAILABLE = hasKernels() ? reason : NO_KERNELS;
        }
    }

    /** Whether this build holds the kernels' fatbin (built with nvcc). */
    public static boolean hasKernels() {
        return Cuda.class.getResource(KERNELS_RESOURCE) != null;
    }

    /** True when this build has its kernels and the driver loads, initialises and reports at least one device. */
    public static boolean available() {
        return Probe.UNAVAILABLE == null;
    }

    /** Why CUDA cannot be used, in one line; null when it can. */
    public static String unavailableReason() {
        return Probe.UNAVAILABLE;
    }

    /** Throws a one-line {@link CudaException} (e.g. "no CUDA driver found ...") unless available. */
    public static void requireAvailable() {
        if (Probe.UNAVAILABLE != null) throw new CudaException(Probe.UNAVAILABLE);
    }

    /** The driver's CUDA version as major * 1000 + minor * 10 (e.g. 13000). */
    public static int driverVersion() {
        requireAvailable();
        return CudaDriver.driverVersion();
    }

    public static int deviceCount() {
        requireAvailable();
        return CudaDriver.deviceCount();
    }

    static NativeLibrary driverLibrary() {
        if (Probe.LIBRARY == null) throw new CudaException(Probe.UNAVAILABLE);
        return Probe.LIBRARY;
    }
}
