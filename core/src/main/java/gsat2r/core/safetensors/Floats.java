package gsat2r.core.safetensors;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Element conversions between Java numbers and the little-endian encodings of safetensors.
 *
 * <p>Narrowing to bf16 and f16 rounds to nearest, ties to even (what PyTorch's {@code .to()}
 * does); NaN stays NaN (sign and upper payload kept, so every bf16 and f16 bit pattern survives a
 * round trip through fp32 unchanged). Widening is exact. f64 → f32 rounds to nearest even.
 */
public final class Floats {
    private Floats() {}

    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble LE_DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    // ---------------------------------------------------------------- scalars

    /** fp32 → bf16 bits, round to nearest even; NaN stays NaN, ±Inf stays ±Inf, overflow gives ±Inf. */
    public static short toBF16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fff_ffff) > 0x7f80_0000) {
            // NaN: keep sign and the upper payload; if the kept payload is empty the result would read
            // as infinity, so set the quiet bit.
            int hi = bits >>> 16;
            if ((hi & 0x7f) == 0) hi |= 0x40;
            return (short) hi;
        }
        // Adding 0x7fff rounds halves down, plus the lowest kept bit turns exact ties to even.
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** bf16 bits → fp32, exact. */
    public static float fromBF16(short bf16) {
        return Float.intBitsToFloat((bf16 & 0xffff) << 16);
    }

    /**
     * fp32 → IEEE half bits, round to nearest even (the JDK's {@link Float#floatToFloat16}). NaN is
     * handled here: the JDK's hardware path quiets signalling NaNs, which would change their bits.
     */
    public static short toF16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fff_ffff) > 0x7f80_0000) {
            int man = (bits >>> 13) & 0x3ff;
            if (man == 0) man = 0x200;                    // an empty payload would read as infinity
            return (short) (((bits >>> 16) & 0x8000) | 0x7c00 | man);
        }
        return Float.floatToFloat16(f);
    }

    /** IEEE half bits → fp32, exact; a NaN keeps its sign and payload bits. */
    public static float fromF16(short f16) {
        if ((f16 & 0x7c00) == 0x7c00 && (f16 & 0x3ff) != 0) {
            return Float.intBitsToFloat(((f16 & 0x8000) << 16) | 0x7f80_0000 | ((f16 & 0x3ff) << 13));
        }
        return Float.float16ToFloat(f16);
    }

    /** F8_E4M3 ("e4m3fn": bias 7, no infinities, S.1111.111 is NaN) → fp32, exact. */
    public static float fromF8E4M3(byte b) {
        int sign = (b >> 7) & 1;
        int exp = (b >> 3) & 0xf;
        int man = b & 7;
        float magnitude;
        if (exp == 0xf && man == 7) return Float.NaN;
        if (exp == 0) magnitude = man * 0x1p-9f;                          // subnormal: m/8 · 2^-6
        else magnitude = Math.scalb(1f + man / 8f, exp - 7);
        return sign == 0 ? magnitude : -magnitude;
    }

    /** F8_E5M2 → fp32, exact: its byte is the upper half of an IEEE half with the same value. */
    public static float fromF8E5M2(byte b) {
        return fromF16((short) ((b & 0xff) << 8));
    }

    // ---------------------------------------------------------------- bulk

    /** Whether {@link #encode} can write fp32 values as {@code dtype}. */
    public static boolean canEncodeFloats(DType dtype) {
        return dtype == DType.F32 || dtype == DType.F64 || dtype == DType.F16 || dtype == DType.BF16;
    }

    /**
     * Writes {@code count} values {@code src[off..]} as little-endian {@code dtype} into
     * {@code dst} at byte offset {@code dstOffset}. {@code dtype} must be F32, F64, F16 or BF16.
     */
    public static void encode(float[] src, int off, int count, DType dtype, MemorySegment dst, long dstOffset) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(src, off, dst, LE_FLOAT, dstOffset, count);
            case F64 -> {
                for (int i = 0; i < count; i++) dst.set(LE_DOUBLE, dstOffset + 8L * i, src[off + i]);
            }
            case BF16 -> {
                for (int i = 0; i < count; i++) dst.set(LE_SHORT, dstOffset + 2L * i, toBF16(src[off + i]));
            }
            case F16 -> {
                for (int i = 0; i < count; i++) dst.set(LE_SHORT, dstOffset + 2L * i, toF16(src[off + i]));
            }
            default -> throw new IllegalArgumentException("cannot encode floats as " + dtype);
        }
    }

    /** Like {@link #encode(float[], int, int, DType, MemorySegment, long)} from fp64 values (F64 keeps them exactly). */
    public static void encode(double[] src, int off, int count, DType dtype, MemorySegment dst, long dstOffset) {
        switch (dtype) {
            case F64 -> MemorySegment.copy(src, off, dst, LE_DOUBLE, dstOffset, count);
            case F32 -> {
                for (int i = 0; i < count; i++) dst.set(LE_FLOAT, dstOffset + 4L * i, (float) src[off + i]);
            }
            // Rounded through fp32, as PyTorch converts float64 to bf16/f16; this double rounding
            // differs from one direct rounding only for values within 2^-24 relative of a tie.
            case BF16 -> {
                for (int i = 0; i < count; i++) dst.set(LE_SHORT, dstOffset + 2L * i, toBF16((float) src[off + i]));
            }
            case F16 -> {
                for (int i = 0; i < count; i++) dst.set(LE_SHORT, dstOffset + 2L * i, toF16((float) src[off + i]));
            }
            default -> throw new IllegalArgumentException("cannot encode floats as " + dtype);
        }
    }

    /**
     * Writes {@code count} values {@code src[off..]} as little-endian integer {@code dtype}; returns
     * the index of the first value outside the type's range, or -1 when all fit (nothing past a bad
     * value is written). BOOL takes 0 and 1.
     */
    public static int encode(long[] src, int off, int count, DType dtype, MemorySegment dst, long dstOffset) {
        long min, max;
        switch (dtype) {
            case I64 -> { min = Long.MIN_VALUE; max = Long.MAX_VALUE; }
            case U64 -> { min = 0; max = Long.MAX_VALUE; }
            case I32 -> { min = Integer.MIN_VALUE; max = Integer.MAX_VALUE; }
            case U32 -> { min = 0; max = 0xffff_ffffL; }
            case I16 -> { min = Short.MIN_VALUE; max = Short.MAX_VALUE; }
            case U16 -> { min = 0; max = 0xffff; }
            case I8 -> { min = Byte.MIN_VALUE; max = Byte.MAX_VALUE; }
            case U8 -> { min = 0; max = 0xff; }
            case BOOL -> { min = 0; max = 1; }
            default -> throw new IllegalArgumentException("cannot encode integers as " + dtype);
        }
        int size = dtype.byteSize();
        for (int i = 0; i < count; i++) {
            long v = src[off + i];
            if (v < min || v > max) return off + i;
            long at = dstOffset + (long) size * i;
            switch (size) {
                case 8 -> dst.set(LE_LONG, at, v);
                case 4 -> dst.set(LE_INT, at, (int) v);
                case 2 -> dst.set(LE_SHORT, at, (short) v);
                default -> dst.set(ValueLayout.JAVA_BYTE, at, (byte) v);
            }
        }
        return -1;
    }

    /**
     * Reads {@code count} little-endian {@code dtype} elements of {@code src} from byte offset
     * {@code srcOffset} into {@code dst[off..]} as fp32. {@code dtype} must be floating.
     */
    public static void decode(DType dtype, MemorySegment src, long srcOffset, float[] dst, int off, int count) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(src, LE_FLOAT, srcOffset, dst, off, count);
            case BF16 -> {
                for (int i = 0; i < count; i++) dst[off + i] = fromBF16(src.get(LE_SHORT, srcOffset + 2L * i));
            }
            case F16 -> {
                for (int i = 0; i < count; i++) dst[off + i] = fromF16(src.get(LE_SHORT, srcOffset + 2L * i));
            }
            case F64 -> {
                for (int i = 0; i < count; i++) dst[off + i] = (float) src.get(LE_DOUBLE, srcOffset + 8L * i);
            }
            case F8_E4M3 -> {
                for (int i = 0; i < count; i++) dst[off + i] = fromF8E4M3(src.get(ValueLayout.JAVA_BYTE, srcOffset + i));
            }
            case F8_E5M2 -> {
                for (int i = 0; i < count; i++) dst[off + i] = fromF8E5M2(src.get(ValueLayout.JAVA_BYTE, srcOffset + i));
            }
            default -> throw new IllegalArgumentException("cannot decode " + dtype + " as floats");
        }
    }

    /** Like {@link #decode(DType, MemorySegment, long, float[], int, int)} into fp64 (exact for every floating type). */
    public static void decode(DType dtype, MemorySegment src, long srcOffset, double[] dst, int off, int count) {
        if (dtype == DType.F64) {
            MemorySegment.copy(src, LE_DOUBLE, srcOffset, dst, off, count);
            return;
        }
        float[] tmp = new float[Math.min(count, 1 << 16)];
        for (int done = 0; done < count; done += tmp.length) {
            int n = Math.min(tmp.length, count - done);
            decode(dtype, src, srcOffset + (long) done * dtype.byteSize(), tmp, 0, n);
            for (int i = 0; i < n; i++) dst[off + done + i] = tmp[i];
        }
    }

    /**
     * Reads {@code count} little-endian integer {@code dtype} elements as {@code long}. U64 values
     * above {@link Long#MAX_VALUE} come out negative (the same 64 bits); callers that care check.
     */
    public static void decode(DType dtype, MemorySegment src, long srcOffset, long[] dst, int off, int count) {
        for (int i = 0; i < count; i++) {
            dst[off + i] = switch (dtype) {
                case I64, U64 -> src.get(LE_LONG, srcOffset + 8L * i);
                case I32 -> src.get(LE_INT, srcOffset + 4L * i);
                case U32 -> src.get(LE_INT, srcOffset + 4L * i) & 0xffff_ffffL;
                case I16 -> src.get(LE_SHORT, srcOffset + 2L * i);
                case U16 -> src.get(LE_SHORT, srcOffset + 2L * i) & 0xffff;
                case I8 -> src.get(ValueLayout.JAVA_BYTE, srcOffset + i);
                case U8 -> src.get(ValueLayout.JAVA_BYTE, srcOffset + i) & 0xff;
                case BOOL -> src.get(ValueLayout.JAVA_BYTE, srcOffset + i) != 0 ? 1 : 0;
                default -> throw new IllegalArgumentException("cannot decode " + dtype + " as integers");
            };
        }
    }
}
