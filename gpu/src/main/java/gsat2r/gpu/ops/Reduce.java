package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import java.util.List;

/** Deterministic sums in fp64 (train.cu): the losses and the gradient norm. */
public final class Reduce {
    private Reduce() {}

    /** Blocks of one vector's launch: fixed by its length and the device, so the sums are the same bits every run. */
    private static int blocksFor(Gpu gpu, long n) {
        return Math.max(1, (int) Math.min((n + 8L * Checks.THREADS - 1) / (8L * Checks.THREADS), 2L * gpu.info().multiprocessors()));
    }

    /**
     * Enqueues {@code out = Σ_x Σ_i x[i]} (or of {@code x[i]²} when {@code squares}) over the fp32
     * buffers {@code xs}, in fp64 and a fixed order (the same bits every run), into the double held by
     * the two ints {@code out[0..2)} (an I32 buffer: doubles have no element type); read it with
     * {@link #readDoubles}.
     */
    public static void sumF64(Gpu gpu, DeviceBuffer out, List<DeviceBuffer> xs, boolean squares) {
        Checks.buffer("out", out, ElementType.I32, 2);
        if (xs.isEmpty()) throw new IllegalArgumentException("nothing to sum");
        int total = 0;
        int[] blocks = new int[xs.size()];
        for (int i = 0; i < xs.size(); i++) {
            Checks.buffer("x", xs.get(i), ElementType.F32, 1);
            blocks[i] = blocksFor(gpu, xs.get(i).length());
            total += blocks[i];
        }
        try (DeviceBuffer partials = gpu.i32(2L * total)) {   // doubles, two ints each
            int at = 0;
            for (int i = 0; i < xs.size(); i++) {
                DeviceBuffer x = xs.get(i);
                gpu.kernel("sum_partials_f64").launch(gpu.stream(), blocks[i], Checks.THREADS, 0, partials.view(2L * at, 2L * blocks[i]),
                        x, x.length(), squares ? 1 : 0);
                at += blocks[i];
            }
            gpu.kernel("sum_finalize_f64").launch(gpu.stream(), 1, 1024, 0, out, partials, total);
        }
    }

    /** The doubles held by pairs of ints of an I32 buffer written by {@link #sumF64} (waits for the stream). */
    public static double[] readDoubles(DeviceBuffer pairs) {
        int[] f = pairs.toIntArray();
        double[] d = new double[f.length / 2];
        for (int i = 0; i < d.length; i++) {
            long lo = f[2 * i] & 0xffffffffL, hi = f[2 * i + 1] & 0xffffffffL;
            d[i] = Double.longBitsToDouble(hi << 32 | lo);
        }
        return d;
    }
}
