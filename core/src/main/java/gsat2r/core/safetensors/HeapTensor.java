package gsat2r.core.safetensors;

import gsat2r.core.T2rException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A small tensor held in the heap as its little-endian file bytes: the unit of the whole-map
 * conveniences ({@link SafeTensorsWriter#write(java.nio.file.Path, java.util.Map)}) that tests and
 * small outputs use. Large tensors should be streamed through a {@link TensorWriter} instead.
 */
public record HeapTensor(DType dtype, long[] shape, MemorySegment bytes) {

    public HeapTensor {
        shape = shape.clone();
        long expected = new TensorSpec("tensor", dtype, shape).byteSize();
        if (bytes.byteSize() != expected) {
            throw new T2rException("tensor " + dtype + Arrays.toString(shape) + " needs " + expected
                    + " bytes, got " + bytes.byteSize());
        }
    }

    /** fp32 values stored as {@code dtype} (F32, F64, F16 or BF16; rounded to nearest even). */
    public static HeapTensor of(DType dtype, float[] values, long... shape) {
        MemorySegment seg = allocate(dtype, values.length, shape);
        if (!Floats.canEncodeFloats(dtype)) throw new T2rException("cannot store floats as " + dtype);
        Floats.encode(values, 0, values.length, dtype, seg, 0);
        return new HeapTensor(dtype, shape, seg);
    }

    /** fp32 values as F32. */
    public static HeapTensor f32(float[] values, long... shape) {
        return of(DType.F32, values, shape);
    }

    /** fp64 values stored as {@code dtype} (F64 keeps them exactly). */
    public static HeapTensor of(DType dtype, double[] values, long... shape) {
        MemorySegment seg = allocate(dtype, values.length, shape);
        if (!Floats.canEncodeFloats(dtype)) throw new T2rException("cannot store floats as " + dtype);
        Floats.encode(values, 0, values.length, dtype, seg, 0);
        return new HeapTensor(dtype, shape, seg);
    }

    /** Integer values stored as integer {@code dtype} (range-checked; BOOL takes 0 and 1). */
    public static HeapTensor of(DType dtype, long[] values, long... shape) {
        MemorySegment seg = allocate(dtype, values.length, shape);
        if (!dtype.isInteger()) throw new T2rException("cannot store integers as " + dtype);
        int bad = Floats.encode(values, 0, values.length, dtype, seg, 0);
        if (bad >= 0) throw new T2rException("value " + values[bad] + " does not fit " + dtype);
        return new HeapTensor(dtype, shape, seg);
    }

    /** Raw little-endian bytes. */
    public static HeapTensor ofBytes(DType dtype, byte[] bytes, long... shape) {
        return new HeapTensor(dtype, shape, MemorySegment.ofArray(bytes.clone()));
    }

    private static MemorySegment allocate(DType dtype, int count, long[] shape) {
        long numel = new TensorSpec("tensor", dtype, shape).numel();
        if (numel != count) {
            throw new T2rException("shape " + Arrays.toString(shape) + " has " + numel + " elements, got " + count + " values");
        }
        return MemorySegment.ofArray(new byte[Math.toIntExact(numel * dtype.byteSize())]);
    }

    public TensorSpec spec(String name) {
        return new TensorSpec(name, dtype, shape);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public byte[] toByteArray() {
        return bytes.toArray(ValueLayout.JAVA_BYTE);
    }
}
