package gsat2r.finetune.plan;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * What each head of the teacher attends to on random tokens said twice ({@code BOS x1 … xn x1 … xn}), the
 * test Olsson et al. (2022) find induction heads with:
 * <ul>
 * <li>{@code induction[l][h]}: the mean attention of a token of the second half to the token after its
 *     first occurrence (query {@code xi}, key {@code xi+1} of the first half): the head that copies what
 *     followed last time, the heart of in-context retrieval;</li>
 * <li>{@code previousToken[l][h]}: the mean attention of every token to the one before it: the head that
 *     writes "what came before me" into each position, which an induction head's keys match on.</li>
 * </ul>
 * Chance is about 1/n for both. Measured on the CPU reference ({@link LlamaModel}) in seconds for a small
 * teacher; random tokens, so no text the teacher could have memorized.
 *
 * @param induction     [layer][head], in [0, 1]
 * @param previousToken [layer][head], in [0, 1]
 */
public record AttentionPatterns(int sequences, int length, double[][] induction, double[][] previousToken) {

    /** A head whose induction score is at least this is an induction head (chance: 1/length). */
    static final double INDUCTION_HEAD = 0.1;
    /** A head whose previous-token score is at least this is a previous-token head. */
    static final double PREVIOUS_TOKEN_HEAD = 0.3;
    static final int SEQUENCES = 8, LENGTH = 100;
    static final long SEED = 0x494E44L;                           // "IND"

    /** The patterns of the teacher in {@code dir}, on {@code sequences} random sequences of {@code length} tokens said twice. */
    static AttentionPatterns measure(Path dir, int sequences, int length, long seed) {
        LlamaModel model = LlamaModel.load(dir);
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            int L = model.config().numHiddenLayers(), H = model.config().numAttentionHeads(), V = model.vocabSize();
            double[][] induction = new double[L][H], previous = new double[L][H];
            SplitMix64 rng = new SplitMix64(seed);
            int T = 1 + 2 * length;
            for (int s = 0; s < sequences; s++) {
                int[] ids = new int[T];
                ids[0] = tokenizer.bosId().orElse(0);
                for (int i = 0; i < length; i++) {
                    int t;
                    do t = rng.nextInt(V); while (tokenizer.isSpecial(t));
                    ids[1 + i] = t;
                    ids[1 + length + i] = t;
                }
                float[][] p = model.attentionProbabilities(ids);
                for (int l = 0; l < L; l++) {
                    for (int h = 0; h < H; h++) {
                        induction[l][h] += inductionScore(p[l], h, T, length) / sequences;
                        previous[l][h] += previousTokenScore(p[l], h, T) / sequences;
                    }
                }
            }
            return new AttentionPatterns(sequences, length, induction, previous);
        }
    }

    /** Mean attention of second-half token {@code xi} (position {@code length + i}) to {@code xi+1} of the first half (position {@code i + 2}). */
    static double inductionScore(float[] p, int head, int T, int length) {
        double sum = 0;
        for (int i = 1; i < length; i++) {
            int query = length + i;
            sum += p[(head * T + query) * T + i + 1];
        }
        return sum / (length - 1);
    }

    /** Mean attention of each token (from position 2: the first token's predecessor is BOS) to the one before it. */
    static double previousTokenScore(float[] p, int head, int T) {
        double sum = 0;
        for (int i = 2; i < T; i++) sum += p[(head * T + i) * T + i - 1];
        return sum / (T - 2);
    }

    int layers() {
        return induction.length;
    }

    /** A layer's strongest head of each kind. */
    double inductionOf(int layer) {
        return max(induction[layer]);
    }

    double previousTokenOf(int layer) {
        return max(previousToken[layer]);
    }

    /**
     * The retrieval circuit under a budget: the layers with induction heads, strongest first; then, with room
     * left, the layers before the first of them with previous-token heads, strongest first (an induction head
     * matches keys that such a head wrote). Sorted; may be shorter than the budget, empty when the teacher has
     * no induction head.
     */
    List<Integer> circuit(int budget) {
        List<Integer> out = new ArrayList<>();
        List<Integer> inductionLayers = ranked(l -> inductionOf(l), INDUCTION_HEAD, layers());
        for (int l : inductionLayers) if (out.size() < budget) out.add(l);
        if (out.isEmpty()) return out;
        int first = out.stream().mapToInt(Integer::intValue).min().orElseThrow();
        for (int l : ranked(l -> previousTokenOf(l), PREVIOUS_TOKEN_HEAD, first)) if (out.size() < budget) out.add(l);
        return out.stream().sorted().toList();
    }

    /** Layers below {@code below} whose score is at least {@code threshold}, highest score first (ties: the lower layer). */
    private static List<Integer> ranked(java.util.function.IntToDoubleFunction score, double threshold, int below) {
        List<Integer> out = new ArrayList<>();
        for (int l = 0; l < below; l++) if (score.applyAsDouble(l) >= threshold) out.add(l);
        out.sort(Comparator.comparingDouble((Integer l) -> -score.applyAsDouble(l)).thenComparingInt(l -> l));
        return out;
    }

    private static double max(double[] xs) {
        double m = 0;
        for (double x : xs) m = Math.max(m, x);
        return m;
    }

    ObjectNode toJson() {
        ObjectNode o = HybridPlanner.JSON.createObjectNode();
        o.put("sequences", sequences);
        o.put("length", length);
        o.put("induction_head", INDUCTION_HEAD);
        o.put("previous_token_head", PREVIOUS_TOKEN_HEAD);
        ArrayNode ind = o.putArray("induction"), prev = o.putArray("previous_token");
        for (int l = 0; l < layers(); l++) {
            ArrayNode a = ind.addArray(), b = prev.addArray();
            for (double x : induction[l]) a.add(x);
            for (double x : previousToken[l]) b.add(x);
        }
        return o;
    }

    /** A row per layer: the strongest induction and previous-token heads. */
    String markdown() {
        StringBuilder md = new StringBuilder(String.format(Locale.ROOT,
                "Attention patterns of the teacher (%d sequences of %d random tokens said twice; the strongest head of each layer; "
                        + "induction heads from %.2f, previous-token heads from %.2f, chance about %.3f):%n%n",
                sequences, length, INDUCTION_HEAD, PREVIOUS_TOKEN_HEAD, 1.0 / length));
        md.append("| layer | induction | previous token |\n|---:|---:|---:|\n");
        for (int l = 0; l < layers(); l++) {
            md.append(String.format(Locale.ROOT, "| %d | %.2f%s | %.2f%s |%n", l, inductionOf(l), inductionOf(l) >= INDUCTION_HEAD ? " *" : "",
                    previousTokenOf(l), previousTokenOf(l) >= PREVIOUS_TOKEN_HEAD ? " *" : ""));
        }
        return md.toString();
    }
}
