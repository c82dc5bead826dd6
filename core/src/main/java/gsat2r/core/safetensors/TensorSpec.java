package gsat2r.core.safetensors;

import gsat2r.core.T2rException;

import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor to be written: its name, element type and shape, declared before any byte is written
 * so that a writer can lay out the header first and then stream the data.
 */
public record TensorSpec(String name, DType dtype, long[] shape) {

    public TensorSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
        if (name.equals("__metadata__")) throw new T2rException("tensor name '__metadata__' is reserved by safetensors");
        if (SafeTensors.hasLoneSurrogate(name)) {
            throw new T2rException("tensor name '" + SafeTensors.printable(name) + "' is not valid Unicode");
        }
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new T2rException("tensor '" + name + "': negative dimension in shape " + Arrays.toString(shape));
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new T2rException("tensor '" + name + "': shape " + Arrays.toString(shape) + " is too large");
            }
        }
        try {
            Math.multiplyExact(n, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new T2rException("tensor '" + name + "': shape " + Arrays.toString(shape) + " is too large");
        }
    }

    public static TensorSpec of(String name, DType dtype, long... shape) {
        return new TensorSpec(name, dtype, shape);
    }

    /** The spec of a tensor that exists, e.g. to copy it into another file. */
    public static TensorSpec of(TensorInfo info) {
        return new TensorSpec(info.name(), info.dtype(), info.shape());
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public long byteSize() {
        return numel() * dtype.byteSize();
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape);
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + shapeString();
    }
}
