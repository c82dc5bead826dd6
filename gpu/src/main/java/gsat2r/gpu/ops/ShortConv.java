package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Dim3;

/**
 * fla's short convolution before its activation (short_conv.cu; the CPU reference is
 * {@code gsat2r.core.cpu.ShortConv}): a causal depthwise convolution of {@code taps} taps per channel over
 * each of B sequences of T rows {@code [B·T, C]}, the weight {@code [C, 1, taps]} in the activations' type.
 * Storage F32 or BF16, fp32 arithmetic; the weight gradient is fp32, accumulates, and has the same bits every run.
 */
public final class ShortConv {
    private ShortConv() {}

    /** {@code y = conv(x)}; y must not be x. */
    public static void forward(Gpu gpu, DeviceBuffer y, DeviceBuffer x, DeviceBuffer w, int batch, int seqLen, int channels, int taps) {
        ElementType t = check(x, w, batch, seqLen, channels, taps);
        Checks.buffer("y", y, t, (long) batch * seqLen * channels);
        long n = (long) batch * seqLen * channels;
        gpu.kernel("short_conv_fwd", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 1), Checks.THREADS, 0,
                y, x, w, batch, seqLen, channels, taps);
    }

    /**
     * {@code dx = convᵀ(dy)} (overwritten, or added when {@code accumulate}; dx must not be dy), and
     * {@code dw += Σ dy · x} when {@code dw} (fp32 {@code [C·taps]}) is not null.
     */
    public static void backward(Gpu gpu, DeviceBuffer dx, DeviceBuffer dw, DeviceBuffer dy, DeviceBuffer x, DeviceBuffer w,
                                int batch, int seqLen, int channels, int taps, boolean accumulate) {
        ElementType t = check(x, w, batch, seqLen, channels, taps);
        long n = (long) batch * seqLen * channels;
        Checks.buffer("dy", dy, t, n);
        if (dx != null) {
            Checks.buffer("dx", dx, t, n);
            gpu.kernel("short_conv_bwd_x", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 1), Checks.THREADS, 0,
                    dx, dy, w, batch, seqLen, channels, taps, accumulate ? 1 : 0);
        }
        if (dw != null) {
            Checks.buffer("dw", dw, ElementType.F32, (long) channels * taps);
            int chunks = chunks((long) batch * seqLen);
            int rowsPerChunk = (int) (((long) batch * seqLen + chunks - 1) / chunks);
            try (DeviceBuffer partial = gpu.f32((long) chunks * channels * taps)) {
                gpu.kernel("short_conv_bwd_w", t).launch(gpu.stream(), new Dim3((channels + 31) / 32, taps, chunks), Dim3.of(256), 0,
                        partial, dy, x, batch, seqLen, channels, taps, rowsPerChunk);
                gpu.kernel("short_conv_bwd_w_sum").launch(gpu.stream(), Checks.gridFor(gpu, (long) channels * taps, 1),
                        Checks.THREADS, 0, dw, partial, channels, taps, chunks);
            }
        }
    }

    /**
     * One decode step of {@code batch} sequences: each row's new projections {@code proj} (fp32, {@code channels} columns of
     * its row) become {@code silu(conv)} in place, with the row's last {@code taps − 1} inputs, which are then shifted to end
     * with this one. Row b's history {@code [taps − 1, channels]} (the weight's type, oldest first) starts {@code offset}
     * elements after the device address at 64-bit word {@code b · rowStride} of {@code rows}.
     */
    public static void decode(Gpu gpu, Rows proj, DeviceBuffer w, DeviceBuffer rows, int rowStride, long offset, int batch, int channels,
                              int taps) {
        Checks.positive("batch", batch);
        Checks.positive("channels", channels);
        Checks.positive("taps", taps);
        Checks.positive("rowStride", rowStride);
        if (offset < 0) throw new IllegalArgumentException("history offset must be >= 0, got " + offset);
        ElementType t = Checks.storage("w", w);
        Checks.buffer("w", w, t, (long) channels * taps);
        Checks.buffer("proj", proj.buffer(), ElementType.F32, (long) (batch - 1) * proj.stride() + channels);
        if (channels > proj.stride()) throw new IllegalArgumentException(channels + " channels in rows of " + proj.stride());
        Checks.buffer("rows", rows, ElementType.I32, 2L * ((long) (batch - 1) * rowStride + 1));
        Alignment.require16("rows", rows);
        long n = (long) batch * channels;
        gpu.kernel("short_conv_decode", t).launch(gpu.stream(), Checks.gridFor(gpu, n, 1), Checks.THREADS, 0,
                proj.buffer(), proj.stride(), w, rows, rowStride, offset, batch, channels, taps);
    }

    /** Rows a weight-gradient block sums (its 8 warps, 32 rows each), unless the grid's z limit needs more. */
    static final int ROWS_PER_CHUNK = 256;
    private static final int MAX_GRID_Z = 65535;

    /** The chunks of rows of the weight gradient: one per {@link #ROWS_PER_CHUNK} rows, at most the grid's z limit. */
    static int chunks(long rows) {
        return (int) Math.min((rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK, MAX_GRID_Z);
    }

    private static ElementType check(DeviceBuffer x, DeviceBuffer w, int batch, int seqLen, int channels, int taps) {
        Checks.positive("batch", batch);
        Checks.positive("seqLen", seqLen);
        Checks.positive("channels", channels);
        Checks.positive("taps", taps);
        ElementType t = Checks.storage("x", x);
        Checks.buffer("x", x, t, (long) batch * seqLen * channels);
        Checks.buffer("w", w, t, (long) channels * taps);
        return t;
    }
}
