package gsat2r.gpu.nccl;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * NCCL's {@code ncclUniqueId}: 128 opaque bytes that rank 0 creates ({@link Nccl#uniqueId()}) and
 * every rank passes to {@link NcclCommunicator#create}; it names the communicator (it holds rank 0's
 * bootstrap address). A run hands it out through its rendezvous (the process group's broadcast).
 */
public record NcclUniqueId(byte[] bytes) {

    public static final int BYTES = 128;

    public NcclUniqueId {
        if (bytes.length != BYTES) throw new IllegalArgumentException("an NCCL unique id has " + BYTES + " bytes, got " + bytes.length);
        bytes = bytes.clone();
    }

    @Override
    public byte[] bytes() {
        return bytes.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NcclUniqueId u && Arrays.equals(u.bytes, bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return "NcclUniqueId[" + HexFormat.of().formatHex(bytes, 0, 8) + "…]";
    }
}
