package gsat2r.gpumodels;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.PinnedBuffer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * What changes from one decode step to the next, per row of the batch: the token id, its position, and per layer
 * the device addresses of the row's state (a GSA layer's Hk and Hv, an attention layer's K and V rings) and the
 * ring's capacity. Written on the host into pinned memory and copied to the device by the step's first operation
 * (a copy node in a captured graph reads the pinned memory when the graph is replayed), so that the kernels, whose
 * arguments are fixed at capture, find each step's sequences there.
 *
 * <p>Layout (int32 units, every section starting on 16 bytes): ids {@code [cap]}, positions {@code [cap]}, then per
 * layer the addresses {@code [cap][2]} (64-bit), the capacities {@code [cap]} and the addresses of the rows' short
 * convolution histories {@code [cap]} (64-bit; 0 for a layer without).
 */
final class RowTable implements AutoCloseable {
    private final int capacity, layers;
    private final PinnedBuffer host;
    private final DeviceBuffer device;
    private final long positionsAt, layersAt, layerInts;

    RowTable(Gpu gpu, int layers, int capacity) {
        this.capacity = capacity;
        this.layers = layers;
        long section = align(capacity);
        this.positionsAt = section;
        this.layersAt = 2 * section;
        this.layerInts = align(4L * capacity) + section + align(2L * capacity);
        long ints = layersAt + layers * layerInts;
        this.device = gpu.i32(ints);
        try {
            this.host = PinnedBuffer.allocate(gpu.context(), 4 * ints);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
        host.segment().fill((byte) 0);
    }

    private static long align(long ints) {
        return (ints + 3) / 4 * 4;
    }

    /** Rows this table holds. */
    int capacity() {
        return capacity;
    }

    void setRow(int row, int id, int position) {
        check(row);
        MemorySegment s = host.segment();
        s.set(ValueLayout.JAVA_INT, 4L * row, id);
        s.set(ValueLayout.JAVA_INT, 4 * (positionsAt + row), position);
    }

    /** Row {@code row}'s state of {@code layer}: two device addresses and, for a KV ring, its capacity (else 0). */
    void setState(int layer, int row, long first, long second, int ringCapacity) {
        check(row);
        MemorySegment s = host.segment();
        long base = 4 * (layersAt + layer * layerInts);
        s.set(ValueLayout.JAVA_LONG, base + 16L * row, first);
        s.set(ValueLayout.JAVA_LONG, base + 16L * row + 8, second);
        s.set(ValueLayout.JAVA_INT, base + 4 * (align(4L * capacity) + row), ringCapacity);
    }

    /** Row {@code row}'s short-convolution history in {@code layer} (a device address; 0 for a layer without). */
    void setConv(int layer, int row, long address) {
        check(row);
        host.segment().set(ValueLayout.JAVA_LONG, 4 * (layersAt + layer * layerInts + align(4L * capacity) + align(capacity)) + 8L * row, address);
    }

    private void check(int row) {
        if (row < 0 || row >= capacity) throw new IndexOutOfBoundsException("row " + row + " of a table of " + capacity);
    }

    /** Queues the copy of the whole table to the device (capturable: it reads the pinned memory when it runs). */
    void upload(Gpu gpu) {
        gpu.context().copyHostToDeviceAsync(device.address(), host.segment(), host.byteSize(), gpu.stream());
    }

    DeviceBuffer ids() {
        return device.view(0, capacity);
    }

    DeviceBuffer positions() {
        return device.view(positionsAt, capacity);
    }

    /** The addresses of {@code layer}: I32 {@code [cap][4]} (two 64-bit addresses a row). */
    DeviceBuffer addresses(int layer) {
        return device.view(layersAt + layer * layerInts, 4L * capacity);
    }

    DeviceBuffer capacities(int layer) {
        return device.view(layersAt + layer * layerInts + align(4L * capacity), capacity);
    }

    /** The convolution histories' addresses of {@code layer}: I32 {@code [cap][2]} (one 64-bit address a row). */
    DeviceBuffer convAddresses(int layer) {
        return device.view(layersAt + layer * layerInts + align(4L * capacity) + align(capacity), 2L * capacity);
    }

    int layers() {
        return layers;
    }

    @Override
    public void close() {
        device.close();
        host.close();
    }
}
