package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** Argument checks and launch-size arithmetic shared by the launchers. */
final class Checks {
    private Checks() {}

    /** Threads per block of the elementwise and grid-stride kernels. */
    static final int THREADS = 256;

    /** Enough blocks of {@code THREADS} to cover {@code work} items, capped at 32 per SM (the kernels stride over the rest). */
    static int gridFor(Gpu gpu, long work, int itemsPerThread) {
        long blocks = (work + (long) THREADS * itemsPerThread - 1) / ((long) THREADS * itemsPerThread);
        long cap = 32L * gpu.info().multiprocessors();
        return (int) Math.max(1, Math.min(blocks, cap));
    }

    static void positive(String what, long value) {
        if (value < 1) throw new IllegalArgumentException(what + " must be positive, got " + value);
    }

    /** {@code b} is of {@code type} and holds at least {@code elements}. */
    static void buffer(String what, DeviceBuffer b, ElementType type, long elements) {
        if (b == null) throw new IllegalArgumentException(what + " is missing");
        if (b.type() != type) throw new IllegalArgumentException(what + " is " + b.type() + ", expected " + type);
        if (b.length() < elements) {
            throw new IllegalArgumentException(what + " holds " + b.length() + " elements, needs " + elements);
        }
    }

    /** Storage type of activations: F32 or BF16. */
    static ElementType storage(String what, DeviceBuffer b) {
        if (b.type() != ElementType.F32 && b.type() != ElementType.BF16) {
            throw new IllegalArgumentException(what + " must be F32 or BF16, is " + b.type());
        }
        return b.type();
    }
}
