package gsat2r.finetune.student;

import java.util.List;

/**
 * How to build the GSA student from the teacher (recipe field {@code student} as an object; the same
 * options as {@code t2r convert}): {@code slots} M per head, {@code gateNormalizer} τ (fla's
 * {@code gate_logit_normalizer}), {@code gateInit} (the f_proj initialisation strategy, e.g.
 * {@code random} or {@code key-pool}), {@code keepAttention} (layer indices kept as softmax attention,
 * a hybrid student) and {@code windows} (a sliding window for some of them, layer → tokens), {@code seed}
 * of the random initialisation, {@code dtype} of the written weights ({@code float32} or {@code bfloat16}),
 * {@code shortConv} the taps of fla's short convolutions on q, k and v (0: none) and {@code shortConvInit} how
 * their kernels start ({@code identity} or {@code random}), {@code kvHeads} the GSA layers' kv heads (0: the teacher's;
 * more: copies of the teacher's).
 */
public record ConversionOptions(int slots, double gateNormalizer, String gateInit, List<Integer> keepAttention,
                                java.util.SortedMap<Integer, Integer> windows, long seed, String dtype, int shortConv,
                                String shortConvInit, int kvHeads) {
    public ConversionOptions {
        if (shortConvInit == null) shortConvInit = "identity";
        keepAttention = List.copyOf(keepAttention);
        windows = java.util.Collections.unmodifiableSortedMap(new java.util.TreeMap<>(windows == null ? java.util.Map.of() : windows));
    }

    /** Without sliding windows (kept layers attend as the teacher does) or short convolutions, with the teacher's kv heads. */
    public ConversionOptions(int slots, double gateNormalizer, String gateInit, List<Integer> keepAttention, long seed, String dtype) {
        this(slots, gateNormalizer, gateInit, keepAttention, null, seed, dtype, 0, null, 0);
    }
}
