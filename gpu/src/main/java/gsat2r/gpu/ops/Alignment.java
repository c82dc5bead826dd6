package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;

/** The tile kernels (attention, GSA) move 16-byte vectors: their buffers must start on 16 bytes. */
final class Alignment {
    private Alignment() {}

    static void require16(String what, DeviceBuffer b) {
        if (b != null && (b.address() & 15) != 0) {
            throw new IllegalArgumentException(what + " must start on a 16-byte boundary (a view at element offset "
                    + "that is a multiple of " + (16 / b.type().bytes()) + "); its address is 0x" + Long.toHexString(b.address()));
        }
    }
}
