package gsat2r.core.data.synthetic;

import gsat2r.core.T2rException;
import gsat2r.core.data.SplitMix64;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Repeated spans ({@code repeats}): a span of corpus text, other corpus text, then the span again,
 * verbatim. Once the repeat has begun, its rest can be copied from the first occurrence (what induction
 * heads do); the answer is the repeat's last quarter.
 *
 * @param minSpan fewest tokens of the repeated span
 * @param maxSpan most tokens of the repeated span
 */
public record RepeatedSpans(int minSpan, int maxSpan) implements SyntheticKind {

    public static final RepeatedSpans DEFAULTS = new RepeatedSpans(16, 256);

    public RepeatedSpans {
        if (minSpan < 4 || maxSpan < minSpan) {
            throw new T2rException("repeats: need 4 <= min_span <= max_span (got " + minSpan + ", " + maxSpan + ")");
        }
    }

    @Override
    public String name() {
        return "repeats";
    }

    @Override
    public int minTokens() {
        return 2 * minSpan + 8;
    }

    @Override
    public Map<String, Object> settings() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("min_span", minSpan);
        m.put("max_span", maxSpan);
        return m;
    }

    @Override
    public Doc.Encoded document(SyntheticContext context, SplitMix64 rng, int budget) {
        if (budget < minTokens()) return null;
        int span = minSpan + rng.nextInt(Math.max(1, Math.min(maxSpan, (budget - 8) / 2) - minSpan + 1));
        long seed = rng.nextLong();
        String repeated = context.haystack(new SplitMix64(seed), span);
        if (repeated.isBlank()) return null;
        return Fit.aroundHaystack(context, rng, budget, 0, (r, gap) -> build(context, r, repeated, gap));
    }

    static Doc build(SyntheticContext context, SplitMix64 rng, String span, int gapTokens) {
        String gap = gapTokens > 0 ? context.haystack(rng, gapTokens) : "";
        String prompt = span + "\n\n" + (gap.isEmpty() ? "" : gap + "\n\n");
        int cut = span.lastIndexOf(' ', span.length() * 3 / 4);
        if (cut <= 0) cut = span.length() / 2;
        return new Doc(prompt + span.substring(0, cut), span.substring(cut));
    }
}
