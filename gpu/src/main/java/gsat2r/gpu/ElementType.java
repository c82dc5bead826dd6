package gsat2r.gpu;

import gsat2r.gpu.cuda.CublasLt;

/** Element types of device buffers: storage fp32 or bf16, token ids and masks int32. */
public enum ElementType {
    F32(4, "f32"), BF16(2, "bf16"), I32(4, "i32");

    private final int bytes;
    private final String suffix;

    ElementType(int bytes, String suffix) {
        this.bytes = bytes;
        this.suffix = suffix;
    }

    public int bytes() {
        return bytes;
    }

    /** The suffix of kernel names for this storage type, e.g. {@code rmsnorm_fwd_bf16}. */
    public String kernelSuffix() {
        return suffix;
    }

    public boolean isFloating() {
        return this != I32;
    }

    public CublasLt.DataType blasType() {
        return switch (this) {
            case F32 -> CublasLt.DataType.F32;
            case BF16 -> CublasLt.DataType.BF16;
            case I32 -> throw new IllegalArgumentException("int32 buffers are not matrix operands");
        };
    }
}
