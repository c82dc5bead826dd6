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
 * @param windows        sliding windows of kept layers (layer → window in tokens, query i sees keys j with
 *                       {@code 0 ≤ i − j < window}); a kept layer not named here keeps the teacher's own
 *                       attention (its {@code sliding_window}, or full)
 * @param shortConv      taps of fla's short convolutions on the GSA layers' q, k and v ({@code use_short_conv},
 *                       {@code conv_size}), 0 for none
 * @param shortConvInit  how their kernels start (null: {@link ShortConvInit#IDENTITY})
 * @param kvHeads        kv heads of the GSA layers, each with its own keys, values, gates and M slots: 0 for the
 *                       teacher's; more (a multiple of the teacher's that divides its query heads) gives each
 *                       teacher kv head that many copies, each read by fewer query heads
 */
public record ConvertOptions(int slots, double gateNormalizer, GateInit gateInit, long seed, DType dtype,
                             List<Integer> keepAttention, java.util.SortedMap<Integer, Integer> windows, int shortConv,
                             ShortConvInit shortConvInit, int kvHeads) {

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
        java.util.TreeMap<Integer, Integer> w = new java.util.TreeMap<>(windows == null ? java.util.Map.of() : windows);
        for (var e : w.entrySet()) {
            if (!sorted.contains(e.getKey())) {
                throw new T2rException("--keep-attention: a window for layer " + e.getKey() + ", which is not kept as attention");
            }
            if (e.getValue() == null || e.getValue() < 1) {
                throw new T2rException("--keep-attention: the window of layer " + e.getKey() + " must be a positive number of tokens");
            }
        }
        windows = java.util.Collections.unmodifiableSortedMap(w);
        if (shortConv < 0 || shortConv > gsat2r.core.config.GsaConfig.MAX_CONV_SIZE) {
            throw new T2rException("--short-conv must be 0 (none) or a number of taps up to " + gsat2r.core.config.GsaConfig.MAX_CONV_SIZE
                    + ", got " + shortConv);
        }
        if (shortConvInit == null) shortConvInit = ShortConvInit.IDENTITY;
        if (kvHeads < 0) throw new T2rException("--kv-heads (student.kv_heads) must be positive (or 0: the teacher's), got " + kvHeads);
    }

    /** Options with the teacher's kv heads. */
    public ConvertOptions(int slots, double gateNormalizer, GateInit gateInit, long seed, DType dtype, List<Integer> keepAttention,
                          java.util.SortedMap<Integer, Integer> windows, int shortConv, ShortConvInit shortConvInit) {
        this(slots, gateNormalizer, gateInit, seed, dtype, keepAttention, windows, shortConv, shortConvInit, 0);
    }

    /** Options whose short convolutions (if any) start as the identity. */
    public ConvertOptions(int slots, double gateNormalizer, GateInit gateInit, long seed, DType dtype, List<Integer> keepAttention,
                          java.util.SortedMap<Integer, Integer> windows, int shortConv) {
        this(slots, gateNormalizer, gateInit, seed, dtype, keepAttention, windows, shortConv, null);
    }

    /** Options without short convolutions. */
    public ConvertOptions(int slots, double gateNormalizer, GateInit gateInit, long seed, DType dtype, List<Integer> keepAttention,
                          java.util.SortedMap<Integer, Integer> windows) {
        this(slots, gateNormalizer, gateInit, seed, dtype, keepAttention, windows, 0);
    }

    /** Options without per-layer windows (kept layers attend as the teacher does). */
    public ConvertOptions(int slots, double gateNormalizer, GateInit gateInit, long seed, DType dtype, List<Integer> keepAttention) {
        this(slots, gateNormalizer, gateInit, seed, dtype, keepAttention, null);
    }

    /**
     * {@code --keep-attention}'s list: layer indices, each optionally with a window, {@code "0,7:256"} (layer 0
     * as the teacher attends, layer 7 in a sliding window of 256 tokens).
     */
    public static Kept parseKept(List<String> items) {
        List<Integer> layers = new java.util.ArrayList<>();
        java.util.TreeMap<Integer, Integer> windows = new java.util.TreeMap<>();
        for (String item : items) {
            String[] p = item.strip().split(":", -1);
            try {
                int layer = Integer.parseInt(p[0].strip());
                if (p.length > 2) throw new NumberFormatException();
                layers.add(layer);
                if (p.length == 2) windows.put(layer, Integer.parseInt(p[1].strip()));
            } catch (NumberFormatException e) {
                throw new T2rException("--keep-attention: '" + item + "' is not LAYER or LAYER:WINDOW (e.g. 0,7:256)");
            }
        }
        return new Kept(layers, windows);
    }

    /** Kept layers and their windows, as {@link #parseKept} reads them. */
    public record Kept(List<Integer> layers, java.util.SortedMap<Integer, Integer> windows) {
        /** The list as {@code --keep-attention} writes it. */
        public String spelling() {
            return String.join(",", layers.stream().map(l -> windows.containsKey(l) ? l + ":" + windows.get(l) : String.valueOf(l)).toList());
        }
    }

    /** The defaults: 64 slots, τ = 8, random gates, seed 0, the teacher's dtype, no attention layers kept. */
    public static ConvertOptions defaults() {
        return new ConvertOptions(DEFAULT_SLOTS, DEFAULT_GATE_NORMALIZER, GateInit.RANDOM, 0, null, List.of());
    }

    public ConvertOptions withKeepAttention(List<Integer> layers) {
        return new ConvertOptions(slots, gateNormalizer, gateInit, seed, dtype, layers, null, shortConv, shortConvInit, kvHeads);
    }

    public ConvertOptions withKeepAttention(List<Integer> layers, java.util.SortedMap<Integer, Integer> windows) {
        return new ConvertOptions(slots, gateNormalizer, gateInit, seed, dtype, layers, windows, shortConv, shortConvInit, kvHeads);
    }

    public ConvertOptions withGateInit(GateInit init) {
        return new ConvertOptions(slots, gateNormalizer, init, seed, dtype, keepAttention, windows, shortConv, shortConvInit, kvHeads);
    }

    public ConvertOptions withDtype(DType type) {
        return new ConvertOptions(slots, gateNormalizer, gateInit, seed, type, keepAttention, windows, shortConv, shortConvInit, kvHeads);
    }

    public ConvertOptions withSlots(int m) {
        return new ConvertOptions(m, gateNormalizer, gateInit, seed, dtype, keepAttention, windows, shortConv, shortConvInit, kvHeads);
    }

    public ConvertOptions withShortConv(int taps) {
        return new ConvertOptions(slots, gateNormalizer, gateInit, seed, dtype, keepAttention, windows, taps, shortConvInit, kvHeads);
    }

    public ConvertOptions withShortConv(int taps, ShortConvInit init) {
        return new ConvertOptions(slots, gateNormalizer, gateInit, seed, dtype, keepAttention, windows, taps, init, kvHeads);
    }

    public ConvertOptions withKvHeads(int n) {
        return new ConvertOptions(slots, gateNormalizer, gateInit, seed, dtype, keepAttention, windows, shortConv, shortConvInit, n);
    }
}
