package gsat2r.core.safetensors;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor entry of a safetensors file: where its bytes are ({@code dataOffset} is absolute in the
 * file, already past the header) and what they mean.
 */
public record TensorInfo(String name, DType dtype, long[] shape, Path file, long dataOffset, long byteSize) {

    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    public long numel() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    /** Records compare arrays by identity; two entries are equal when they describe the same bytes the same way. */
    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && file.equals(t.file) && dataOffset == t.dataOffset && byteSize == t.byteSize;
    }

    @Override
    public int hashCode() {
        return ((name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape)) * 31 + Long.hashCode(dataOffset);
    }

    @Override
    public String toString() {
        return name + " " + dtype + shapeString() + " @" + file.getFileName() + ":" + dataOffset + "+" + byteSize;
    }
}
