package gsat2r.training;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SequencedMap;

/**
 * Loss terms of one batch, each summed over the batch's positions (see {@link Objective} for the terms
 * of each objective), and the number of positions. Sums of several micro-batches add up with
 * {@link #plus}; {@link #mean} divides by the positions. Term {@code loss} is always present.
 */
public record LossSums(long positions, SequencedMap<String, Double> sums) {

    public LossSums {
        if (!sums.containsKey("loss")) throw new IllegalArgumentException("a loss sum needs the term \"loss\"");
        sums = Collections.unmodifiableSequencedMap(new LinkedHashMap<>(sums));
    }

    public static LossSums of(long positions, Map<String, Double> sums) {
        return new LossSums(positions, new LinkedHashMap<>(sums));
    }

    public double sum(String term) {
        Double v = sums.get(term);
        if (v == null) throw new IllegalArgumentException("no loss term \"" + term + "\" in " + sums.keySet());
        return v;
    }

    public double loss() {
        return sum("loss");
    }

    /** The per-position mean of a term. */
    public double mean(String term) {
        return sum(term) / positions;
    }

    /** Term by term sum with another batch's sums (the same terms, in any order). */
    public LossSums plus(LossSums other) {
        if (other == null) return this;
        LinkedHashMap<String, Double> out = new LinkedHashMap<>(sums);
        if (!out.keySet().equals(other.sums.keySet())) {
            throw new IllegalArgumentException("loss terms differ: " + sums.keySet() + " vs " + other.sums.keySet());
        }
        other.sums.forEach((k, v) -> out.merge(k, v, Double::sum));
        return new LossSums(positions + other.positions, out);
    }
}
