package gsat2r.core.safetensors;

import java.util.Locale;

/**
 * The element types of the safetensors format that this project reads (names as in the header).
 * Every type here can be opened, inspected and copied as raw bytes; {@link #isFloating() floating}
 * types also widen to fp32 ({@link SafeTensors#floats}) and {@link #isInteger() integer} types to
 * {@code long} ({@link SafeTensors#longs}). The sub-byte types of newer safetensors versions
 * (F4, F6_*) are not supported: their sizes are not whole bytes.
 */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1),
    U64(8), U32(4), U16(2),
    /** 8-bit float, 4 exponent bits, 3 mantissa bits, no infinities ("e4m3fn"). */
    F8_E4M3(1),
    /** 8-bit float, 5 exponent bits, 2 mantissa bits: the upper byte of an IEEE half. */
    F8_E5M2(1);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    public boolean isFloating() {
        return switch (this) {
            case F64, F32, F16, BF16, F8_E4M3, F8_E5M2 -> true;
            default -> false;
        };
    }

    /** Integer and boolean types (BOOL reads as 0 or 1). */
    public boolean isInteger() {
        return !isFloating();
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
