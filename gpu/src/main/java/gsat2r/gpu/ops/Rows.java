package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;

/**
 * Rows of a matrix inside a device buffer: row b starts at element {@code b·stride} of {@code buffer}, so that
 * the pieces of one fused projection output (q | k | v | f of a row) are read in place.
 */
public record Rows(DeviceBuffer buffer, int stride) {
    public Rows {
        if (buffer == null) throw new IllegalArgumentException("rows without a buffer");
        if (stride < 1) throw new IllegalArgumentException("row stride must be positive, got " + stride);
    }

    /** Rows of {@code width} starting at column {@code column} of this matrix (a view from that column on). */
    public Rows columns(int column, int width, int rows) {
        if (column < 0 || column + width > stride) throw new IllegalArgumentException("columns [" + column + ", " + (column + width) + ") of rows of " + stride);
        return new Rows(buffer.view(column, (long) (rows - 1) * stride + width), stride);
    }
}
