package gsat2r.converter;

import gsat2r.core.T2rException;
import gsat2r.core.safetensors.DType;

import java.util.List;
import java.util.TreeSet;

/**
 * How to convert a teacher into a student ({@code t2r convert}'s options).
 *
 * @param slots          M, memory slots per kv head (the paper and fla use 64)
 * @param gateNormalizer τ in {@code g = logsigmoid(f)/τ} (fla's default 8)
 * @param gateInit       how the new {@code f_proj} starts
 * @param seed           seed of the random draws (f_proj for {@code random}, symmetry-breaking noise for {@code key-pool})
 * @param dtype          storage type of the student's weights: BF16 or F32; null means the teacher's
 *                       (F32 for a teacher in another type), so that reused tensors are copied bit-exactly
 * @param keepAttention  layers that keep the teacher's softmax attention (a hybrid student); sorted, distinct
 */
public record ConvertOptions(int slots, double gateNormalizer, GateInit gateInit, long seed, DType dtype,
                             List<Integer> keepAttention) {

    public static final int DEFAULT_SLOTS = 64;
    public static final double DEFAULT_GATE_NORMALIZER = 8;

    public ConvertOptions {
        if (slots < 1) throw new T2rException("--slots must be positive, got " + slots);
        if (!(gateNormalizer > 0) || !Double.isFinite(gateNormalizer)) {
            throw new T2rException("--gate-normalizer must be a positive number, got " + gateNormalizer);
        }
        if (gateInit == null) throw new T2rException("no gate init given");
        if (dtype != null && dtype != DType.BF16 && dtype != DType.F32) {
            throw new T2rException("--dtype must be bf16 or f32, got " + dtype.name().toLowerCase(java.util.Locale.ROOT));
        }
        TreeSet<Integer> sorted = new TreeSet<>(keepAttention == null ? List.of() : keepAttention);
        if (keepAttention != null && sorted.size() != keepAttention.size()) {
            throw new T2rException("--keep-attention names a layer twice: " + keepAttention);
        }
        keepAttention = List.copyOf(sorted);
    }

    /** The defaults: 64 slots, τ = 8, random gates, seed 0, the teacher's dtype, no attention layers kept. */
    public static ConvertOptions defaults() {
        return new ConvertOptions(DEFAULT_SLOTS, DEFAULT_GATE_NORMALIZER, GateInit.RANDOM, 0, null, List.of());
    }

    public ConvertOptions withKeepAttention(List<Integer> layers) {
        return new ConvertOptions(slots, gateNormalizer, gateInit, seed, dtype, layers);
    }

    public ConvertOptions withGateInit(GateInit init) {
        return new ConvertOptions(slots, gateNormalizer, init, seed, dtype, keepAttention);
    }

    public ConvertOptions withDtype(DType type) {
        return new ConvertOptions(slots, gateNormalizer, gateInit, seed, type, keepAttention);
    }

    public ConvertOptions withSlots(int m) {
        return new ConvertOptions(m, gateNormalizer, gateInit, seed, dtype, keepAttention);
    }
}
