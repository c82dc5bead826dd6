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
            UNAVAILABLE = reason;
        }
    }

    /** True when the driver loads, initialises and reports at least one device. */
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
