package gsat2r.core.safetensors;

import java.lang.foreign.MemorySegment;

/**
 * The bytes of one tensor being written, in order, in as many pieces as the caller likes (so a
 * tensor never has to be in the heap whole). Closing checks that exactly the declared number of
 * bytes arrived. Values are converted to the tensor's dtype: floats to F32/F64/F16/BF16 (rounded
 * to nearest even), longs to integer types (range-checked).
 */
public interface TensorSink extends AutoCloseable {

    /** The tensor being written. */
    TensorSpec spec();

    /** Bytes still to come. */
    long remainingBytes();

    /**
     * Fails, naming the file and the tensor, unless {@code bytes} is exactly what remains of the
     * tensor; {@code what} describes the input for the message (e.g. "5 values").
     */
    void expectRemaining(long bytes, String what);

    /** Raw little-endian bytes of the tensor's dtype, copied as they are. */
    void putBytes(MemorySegment bytes);

    default void putBytes(byte[] bytes) {
        putBytes(MemorySegment.ofArray(bytes));
    }

    void putFloats(float[] values, int offset, int count);

    default void putFloats(float[] values) {
        putFloats(values, 0, values.length);
    }

    void putDoubles(double[] values, int offset, int count);

    default void putDoubles(double[] values) {
        putDoubles(values, 0, values.length);
    }

    void putLongs(long[] values, int offset, int count);

    default void putLongs(long[] values) {
        putLongs(values, 0, values.length);
    }

    /** Ends the tensor; fails (and fails the writer) unless exactly its byte size was put. */
    @Override
    void close();
}
