package gsat2r.gpu;

import gsat2r.gpu.cuda.DevicePointer;
import gsat2r.gpu.memory.Bf16;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A typed array in device memory: {@link #length()} elements of {@link #type()}. Owned buffers come
 * from the engine's caching allocator and go back to it on {@link #close()}; views
 * ({@link #view}) share their parent's memory and free nothing.
 *
 * <p>Host copies are ordered on the engine's stream and wait for it, so they see every kernel
 * queued before them. Float data goes to and from bf16 buffers through a host-side conversion
 * (round to nearest even).
 */
public final class DeviceBuffer implements DevicePointer, AutoCloseable {
    /** A quiet NaN of fp32; bf16 buffers are poisoned with 0x7FC0. */
    static final int POISON_F32 = 0x7fc00000;

    private final Gpu gpu;
    private final ElementType type;
    private final long address;
    private final long length;
    private final boolean owned;
    private boolean closed;

    DeviceBuffer(Gpu gpu, ElementType type, long address, long length, boolean owned) {
        this.gpu = gpu;
        this.type = type;
        this.address = address;
        this.length = length;
        this.owned = owned;
    }

    public Gpu gpu() {
        return gpu;
    }

    public ElementType type() {
        return type;
    }

    public long length() {
        return length;
    }

    public long byteSize() {
        return length * type.bytes();
    }

    @Override
    public long address() {
        if (closed) throw new IllegalStateException("device buffer is closed");
        return address;
    }

    /** {@code length} elements starting at element {@code offset}, sharing this buffer's memory. */
    public DeviceBuffer view(long offset, long length) {
        if (offset < 0 || length < 1 || offset + length > this.length) {
            throw new IndexOutOfBoundsException("view [" + offset + ", " + (offset + length) + ") of a buffer of " + this.length);
        }
        return new DeviceBuffer(gpu, type, address() + offset * type.bytes(), length, false);
    }

    // ---- host to device -------------------------------------------------------------------------

    /** Copies all of {@code src} (length must match) into this F32 or BF16 buffer. */
    public void copyFrom(float[] src) {
        requireLength(src.length);
        copyFrom(src, 0, 0, src.length);
    }

    /** Copies {@code count} floats from {@code src[srcOffset]} to element {@code dstIndex}. */
    public void copyFrom(float[] src, int srcOffset, long dstIndex, int count) {
        requireFloating();
        requireRange(dstIndex, count);
        int elem = type.bytes();
        gpu.stage((staging, chunk, done) -> {
            int n = (int) Math.min(count - done, chunk / elem);
            if (type == ElementType.F32) {
                MemorySegment.copy(src, srcOffset + (int) done, staging, ValueLayout.JAVA_FLOAT, 0, n);
            } else {
                for (int i = 0; i < n; i++) staging.setAtIndex(ValueLayout.JAVA_SHORT, i, Bf16.fromFloat(src[srcOffset + (int) done + i]));
            }
            gpu.context().copyHostToDeviceAsync(address() + (dstIndex + done) * elem, staging, (long) n * elem, gpu.stream());
            return n;
        }, count);
    }

    /** Copies all of {@code src} into this I32 buffer. */
    public void copyFrom(int[] src) {
        requireType(ElementType.I32);
        requireLength(src.length);
        gpu.stage((staging, chunk, done) -> {
            int n = (int) Math.min(src.length - done, chunk / 4);
            MemorySegment.copy(src, (int) done, staging, ValueLayout.JAVA_INT, 0, n);
            gpu.context().copyHostToDeviceAsync(address() + done * 4, staging, (long) n * 4, gpu.stream());
            return n;
        }, src.length);
    }

    /** Copies raw bytes (already in this buffer's storage format, e.g. a bf16 safetensors tensor). */
    public void copyFromBytes(MemorySegment src) {
        if (src.byteSize() != byteSize()) {
            throw new IllegalArgumentException(src.byteSize() + " bytes for a buffer of " + byteSize());
        }
        gpu.stage((staging, chunk, done) -> {
            long n = Math.min(src.byteSize() - done, chunk);
            MemorySegment.copy(src, done, staging, 0, n);
            gpu.context().copyHostToDeviceAsync(address() + done, staging, n, gpu.stream());
            return n;
        }, src.byteSize());
    }

    /** Copies another buffer of the same type and length, ordered on the stream. */
    public void copyFrom(DeviceBuffer src) {
        if (src.type != type || src.length != length) {
            throw new IllegalArgumentException("copy of " + src.type + "[" + src.length + "] into " + type + "[" + length + "]");
        }
        gpu.context().copyDeviceToDeviceAsync(address(), src.address(), byteSize(), gpu.stream());
    }

    // ---- device to host -------------------------------------------------------------------------

    /** All elements of this F32 or BF16 buffer as floats (waits for queued work). */
    public float[] toFloatArray() {
        requireFloating();
        if (length > Integer.MAX_VALUE - 8) throw new IllegalStateException("buffer of " + length + " elements is too large for an array");
        float[] out = new float[(int) length];
        int elem = type.bytes();
        gpu.unstage((staging, chunk, done) -> {
            int n = (int) Math.min(length - done, chunk / elem);
            gpu.context().copyDeviceToHostAsync(staging, address() + done * elem, (long) n * elem, gpu.stream());
            gpu.stream().synchronize();
            if (type == ElementType.F32) {
                MemorySegment.copy(staging, ValueLayout.JAVA_FLOAT, 0, out, (int) done, n);
            } else {
                for (int i = 0; i < n; i++) out[(int) done + i] = Bf16.toFloat(staging.getAtIndex(ValueLayout.JAVA_SHORT, i));
            }
            return n;
        }, length);
        return out;
    }

    public int[] toIntArray() {
        requireType(ElementType.I32);
        int[] out = new int[Math.toIntExact(length)];
        gpu.unstage((staging, chunk, done) -> {
            int n = (int) Math.min(length - done, chunk / 4);
            gpu.context().copyDeviceToHostAsync(staging, address() + done * 4, (long) n * 4, gpu.stream());
            gpu.stream().synchronize();
            MemorySegment.copy(staging, ValueLayout.JAVA_INT, 0, out, (int) done, n);
            return n;
        }, length);
        return out;
    }

    // ---- device-side fills ----------------------------------------------------------------------

    /** Sets every element to zero (0.0 or 0), ordered on the stream. */
    public void zero() {
        gpu.context().memsetD8Async(address(), (byte) 0, byteSize(), gpu.stream());
    }

    /** Fills with NaN (int buffers with 0x7FC00000), so that tests see every element a kernel failed to write. */
    public void poison() {
        if (type == ElementType.BF16) {
            gpu.context().memsetD16Async(address(), (short) 0x7fc0, length, gpu.stream());
        } else {
            gpu.context().memsetD32Async(address(), POISON_F32, length, gpu.stream());
        }
    }

    // ---- checks ---------------------------------------------------------------------------------

    private void requireFloating() {
        if (!type.isFloating()) throw new IllegalArgumentException("float copy into an " + type + " buffer");
    }

    private void requireType(ElementType t) {
        if (type != t) throw new IllegalArgumentException("buffer is " + type + ", not " + t);
    }

    private void requireLength(long n) {
        if (n != length) throw new IllegalArgumentException(n + " elements for a buffer of " + length);
    }

    private void requireRange(long index, long count) {
        if (index < 0 || count < 0 || index + count > length) {
            throw new IndexOutOfBoundsException("elements [" + index + ", " + (index + count) + ") of a buffer of " + length);
        }
    }

    public boolean isView() {
        return !owned;
    }

    /** Returns an owned buffer's memory to the allocator (views: nothing to free). */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (owned) gpu.allocator().release(address);
    }

    @Override
    public String toString() {
        return type + "[" + length + "]@0x" + Long.toHexString(address) + (owned ? "" : " (view)");
    }
}
