package gsat2r.core.safetensors;

import java.util.Locale;

/** The element types of the safetensors format that this project reads (names as in the header). */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    public boolean isFloating() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }

    /** The header spelling, e.g. {@code "BF16"}. */
    public String headerName() {
        return name();
    }

    /** Parses a header dtype; returns null for a name this project does not know. */
    public static DType fromHeader(String name) {
        for (DType t : values()) {
            if (t.name().equals(name)) return t;
        }
        return null;
    }

    /** Parses a user-facing or config spelling: bf16, bfloat16, f32, float32, fp16, float16, ... */
    public static DType fromUser(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "bf16", "bfloat16" -> BF16;
            case "f16", "fp16", "float16", "half" -> F16;
            case "f32", "fp32", "float32", "float" -> F32;
            case "f64", "fp64", "float64", "double" -> F64;
            default -> null;
        };
    }
}
