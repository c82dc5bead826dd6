package gsat2r.gpu.ops;

import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaEvent;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-kernel timing for benchmarks: while enabled, the attention and GSA launchers bracket each
 * kernel with CUDA events and wait for it, accumulating milliseconds per kernel name (so it slows
 * the pipeline down: enable it only for a breakdown run, never while timing end to end).
 */
public final class KernelTimes {
    private KernelTimes() {}

    private static volatile boolean enabled;
    private static final Map<String, double[]> TOTALS = new LinkedHashMap<>();
    private static final List<Launch> LAUNCHES = new ArrayList<>();

    /** One timed launch: the kernel's name (or a product's shape) and its milliseconds. */
    public record Launch(String kernel, double millis) {}

    public static void enable(boolean on) {
        enabled = on;
    }

    /**
     * Times every kernel launch and every matrix product on {@code gpu} (products named by their shape), or
     * stops: the breakdown of a whole training step.
     */
    public static void enableAll(Gpu gpu, boolean on) {
        all = on;
        gsat2r.gpu.cuda.CudaFunction.timeLaunches(on ? (name, stream, launch) -> time(gpu, name, launch) : null);
    }

    private static volatile boolean all;

    /** Times a matrix product while every launch is timed. */
    static void gemm(Gpu gpu, String shape, Runnable launch) {
        if (all) time(gpu, shape, launch);
        else launch.run();
    }

    /** Kernel name → {total ms, launches} since the last drain, in first-launch order; clears them (and the launches). */
    public static synchronized Map<String, double[]> drain() {
        Map<String, double[]> copy = new LinkedHashMap<>(TOTALS);
        TOTALS.clear();
        LAUNCHES.clear();
        return copy;
    }

    /**
     * The launches timed since the last drain, one by one in launch order (so that a caller who knows the sequence, a
     * decode step's, can tell apart two launches of one kernel); clears them (and the totals).
     */
    public static synchronized List<Launch> drainLaunches() {
        List<Launch> copy = List.copyOf(LAUNCHES);
        LAUNCHES.clear();
        TOTALS.clear();
        return copy;
    }

    static void run(Gpu gpu, String name, Runnable launch) {
        if (!enabled || all) {                  // with every launch timed, the launch itself is
            launch.run();
            return;
        }
        time(gpu, name, launch);
    }

    private static void time(Gpu gpu, String name, Runnable launch) {
        try (CudaEvent start = gpu.newEvent(); CudaEvent stop = gpu.newEvent()) {
            start.record(gpu.stream());
            launch.run();
            stop.record(gpu.stream());
            double ms = stop.elapsedMillisSince(start);
            synchronized (KernelTimes.class) {
                double[] t = TOTALS.computeIfAbsent(name, k -> new double[2]);
                t[0] += ms;
                t[1] += 1;
                LAUNCHES.add(new Launch(name, ms));
            }
        }
    }
}
