package gsat2r.core.safetensors;

import java.lang.foreign.MemorySegment;
import java.util.function.Consumer;

/**
 * Writes declared tensors in their declared order, then {@link #commit}s. Until the commit, no
 * output exists under its final name; closing without a commit (e.g. because an exception left a
 * try-with-resources block) deletes everything written. Not thread-safe.
 *
 * <pre>{@code
 * try (TensorWriter w = SafeTensorsWriter.create(file, specs)) {
 *     w.write("a", floatsOfA);                       // converted to a's dtype
 *     try (TensorSink s = w.stream("b")) {           // piece by piece
 *         for (float[] row : rowsOfB) s.putFloats(row);
 *     }
 *     w.commit();
 * }
 * }</pre>
 */
public interface TensorWriter extends AutoCloseable {

    /** Starts the next tensor, which must be {@code name}; its bytes go to the returned sink. */
    TensorSink stream(String name);

    /** Writes the next tensor from raw little-endian bytes of its dtype. */
    default void write(String name, MemorySegment bytes) {
        try (TensorSink s = stream(name)) {
            s.expectRemaining(bytes.byteSize(), bytes.byteSize() + " bytes");
            s.putBytes(bytes);
        }
    }

    default void write(String name, byte[] bytes) {
        write(name, MemorySegment.ofArray(bytes));
    }

    /** Writes the next tensor from fp32 values, converted to its floating dtype. */
    default void write(String name, float[] values) {
        try (TensorSink s = stream(name)) {
            s.expectRemaining((long) values.length * s.spec().dtype().byteSize(), values.length + " values");
            s.putFloats(values);
        }
    }

    /** Writes the next tensor from fp64 values, converted to its floating dtype. */
    default void write(String name, double[] values) {
        try (TensorSink s = stream(name)) {
            s.expectRemaining((long) values.length * s.spec().dtype().byteSize(), values.length + " values");
            s.putDoubles(values);
        }
    }

    /** Writes the next tensor from integer values, range-checked against its integer dtype. */
    default void write(String name, long[] values) {
        try (TensorSink s = stream(name)) {
            s.expectRemaining((long) values.length * s.spec().dtype().byteSize(), values.length + " values");
            s.putLongs(values);
        }
    }

    /** Writes the next tensor through a callback that fills its sink (piece by piece if it likes). */
    default void write(String name, Consumer<TensorSink> filler) {
        try (TensorSink s = stream(name)) {
            filler.accept(s);
        }
    }

    /** Checks that every declared tensor was written, then makes the output appear under its final name. */
    void commit();

    /** Without a commit, deletes what was written. Harmless after a commit, and twice. */
    @Override
    void close();
}
