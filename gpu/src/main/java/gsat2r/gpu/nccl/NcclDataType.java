package gsat2r.gpu.nccl;

/** The element types the bindings use, with their {@code ncclDataType_t} values (nccl.h). */
public enum NcclDataType {
    INT32(2, 4), INT64(4, 8), FLOAT16(6, 2), FLOAT32(7, 4), FLOAT64(8, 8), BFLOAT16(9, 2);

    final int code;
    final int bytes;

    NcclDataType(int code, int bytes) {
        this.code = code;
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** nccl.h's name, for messages: {@code ncclFloat32}. */
    public String ncclName() {
        return switch (this) {
            case INT32 -> "ncclInt32";
            case INT64 -> "ncclInt64";
            case FLOAT16 -> "ncclFloat16";
            case FLOAT32 -> "ncclFloat32";
            case FLOAT64 -> "ncclFloat64";
            case BFLOAT16 -> "ncclBfloat16";
        };
    }
}
