package gsat2r.gpumodels;

import gsat2r.core.model.Precision;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.Floats;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorInfo;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;

import java.lang.foreign.MemorySegment;

/**
 * The storage type of what the GPU models compute with, for a {@link Precision}: bf16 (tensor-core
 * products, fp32 accumulation) or fp32 (products without TF32: the accuracy reference, ~1e-5 from the CPU
 * backend); and the copies between stored tensors (safetensors, any float dtype) and device buffers, in
 * pieces, so that no tensor passes through one host array.
 */
final class ComputeType {
    private ComputeType() {}

    /** Floats per piece when a tensor is converted on its way to or from the device. */
    static final int PIECE = 1 << 22;

    static ElementType of(Precision p) {
        return p == Precision.BF16 ? ElementType.BF16 : ElementType.F32;
    }

    /** Whether a stored dtype is the device type bit for bit (then bytes are copied as they are). */
    static boolean sameBits(DType stored, ElementType type) {
        return (type == ElementType.BF16 && stored == DType.BF16) || (type == ElementType.F32 && stored == DType.F32);
    }

    /** Copies tensor {@code name} of {@code st} into {@code dst} (its length), converting in pieces when the types differ. */
    static void upload(DeviceBuffer dst, SafeTensors st, String name) {
        TensorInfo info = st.info(name);
        MemorySegment bytes = st.bytes(name);
        if (sameBits(info.dtype(), dst.type())) {
            dst.copyFromBytes(bytes);
            return;
        }
        long n = info.numel();
        float[] piece = new float[(int) Math.min(PIECE, n)];
        for (long i = 0; i < n; i += PIECE) {
            int count = (int) Math.min(PIECE, n - i);
            Floats.decode(info.dtype(), bytes, i * info.dtype().byteSize(), piece, 0, count);
            dst.copyFrom(piece, 0, i, count);
        }
    }

    /**
     * Whether two stored tensors hold the same values once held in {@code type}: the same bytes when both are
     * stored alike, else the same {@code type} values element by element (bf16 after round-to-nearest-even).
     */
    static boolean sameValues(SafeTensors a, String an, SafeTensors b, String bn, ElementType type) {
        TensorInfo ia = a.info(an), ib = b.info(bn);
        if (!java.util.Arrays.equals(ia.shape(), ib.shape())) return false;
        MemorySegment sa = a.bytes(an), sb = b.bytes(bn);
        if (ia.dtype() == ib.dtype()) return sa.mismatch(sb) == -1;
        long n = ia.numel();
        float[] pa = new float[(int) Math.min(PIECE, n)], pb = new float[pa.length];
        for (long i = 0; i < n; i += PIECE) {
            int count = (int) Math.min(PIECE, n - i);
            Floats.decode(ia.dtype(), sa, i * ia.dtype().byteSize(), pa, 0, count);
            Floats.decode(ib.dtype(), sb, i * ib.dtype().byteSize(), pb, 0, count);
            for (int j = 0; j < count; j++) {
                boolean same = type == ElementType.BF16 ? Floats.toBF16(pa[j]) == Floats.toBF16(pb[j])
                        : Float.floatToRawIntBits(pa[j]) == Float.floatToRawIntBits(pb[j]);
                if (!same) return false;
            }
        }
        return true;
    }
}
