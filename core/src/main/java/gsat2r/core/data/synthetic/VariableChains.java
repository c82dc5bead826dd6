package gsat2r.core.data.synthetic;

import gsat2r.core.T2rException;
import gsat2r.core.data.SplitMix64;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Variable tracking ({@code variables}): chains of assignments hidden in corpus text, one name taking
 * a number and each next name taking the previous one, with a second, distracting chain; at the end
 * the names that hold the first chain's number, in the order they were assigned:
 * <pre>
 *   … Let QKT be 4821. … Let ZAXN be QKT. … Let MOR be 915. … Let PIV be ZAXN. …
 *   \n\nWhich names hold 4821? They are QKT, ZAXN, PIV
 * </pre>
 *
 * @param maxChain most names in a chain (2 or more)
 */
public record VariableChains(int maxChain) implements SyntheticKind {

    public static final VariableChains DEFAULTS = new VariableChains(5);

    public VariableChains {
        if (maxChain < 2) throw new T2rException("variables: max_chain must be at least 2 (got " + maxChain + ")");
    }

    @Override
    public String name() {
        return "variables";
    }

    @Override
    public int minTokens() {
        return 128;
    }

    @Override
    public Map<String, Object> settings() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("max_chain", maxChain);
        return m;
    }

    @Override
    public Doc.Encoded document(SyntheticContext context, SplitMix64 rng, int budget) {
        if (budget < minTokens()) return null;
        return Fit.aroundHaystack(context, rng, budget, Needles.MIN_HAYSTACK, (r, haystack) -> build(context, r, haystack));
    }

    Doc build(SyntheticContext context, SplitMix64 rng, int haystackTokens) {
        Lexicon lex = context.lexicon();
        int length = 2 + rng.nextInt(maxChain - 1), other = 1 + rng.nextInt(maxChain);
        List<String> names = Lexicon.distinct(length + other, rng, r -> lex.code(r, 3 + r.nextInt(2)));
        List<String> numbers = Lexicon.distinct(2, rng, r -> lex.number(r, 3, 6));
        List<Needles.Placed> steps = new ArrayList<>();
        chain(names.subList(0, length), numbers.get(0), rng, steps);
        chain(names.subList(length, length + other), numbers.get(1), rng, steps);
        steps.sort((a, b) -> Double.compare(a.depth(), b.depth()));
        String text = Needles.insert(context.haystack(rng, haystackTokens), steps);
        return Needles.list(new Doc.Writer().append(text + "\n\nWhich names hold " + numbers.get(0) + "? They are"), names.subList(0, length));
    }

    /** The assignments of one chain at increasing depths: the first name takes the number, each next the one before. */
    private static void chain(List<String> names, String number, SplitMix64 rng, List<Needles.Placed> out) {
        double[] depths = new double[names.size()];
        for (int i = 0; i < depths.length; i++) depths[i] = rng.nextDouble();
        java.util.Arrays.sort(depths);
        for (int i = 0; i < names.size(); i++) {
            String value = i == 0 ? number : names.get(i - 1);
            out.add(new Needles.Placed(" Let " + names.get(i) + " be " + value + ".", value, depths[i]));
        }
    }
}
