package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** Storage conversions and fills (convert.cu). */
public final class Convert {
    private Convert() {}

    /** {@code out = bf16(in)}, round to nearest even, {@code n} elements. */
    public static void toBf16(Gpu gpu, DeviceBuffer out, DeviceBuffer in, long n) {
        Checks.positive("n", n);
        Checks.buffer("in", in, ElementType.F32, n);
        Checks.buffer("out", out, ElementType.BF16, n);
        gpu.kernel("cast_f32_to_bf16").launch(gpu.stream(), Checks.gridFor(gpu, n, 8), Checks.THREADS, 0, out, in, n);
    }

    /** Every element of the fp32 buffer {@code x} set to {@code value}. */
    public static void fill(Gpu gpu, DeviceBuffer x, float value) {
        Checks.buffer("x", x, ElementType.F32, 1);
        gpu.kernel("fill_f32").launch(gpu.stream(), Checks.gridFor(gpu, x.length(), 1), Checks.THREADS, 0, x, x.length(), value);
    }

    /** {@code dst = src} through 16-byte loads and stores (both buffers of equal byte size, a multiple of 16): the bandwidth probe. */
    public static void copy16(Gpu gpu, DeviceBuffer dst, DeviceBuffer src) {
        if (dst.byteSize() != src.byteSize() || src.byteSize() % 16 != 0) {
            throw new IllegalArgumentException("copy16 of " + src.byteSize() + " bytes into " + dst.byteSize());
        }
        long words = src.byteSize() / 16;
        gpu.kernel("copy_16b").launch(gpu.stream(), Checks.gridFor(gpu, words, 1), Checks.THREADS, 0, dst, src, words);
    }
}
