package gsat2r.core.data.synthetic;

import gsat2r.core.data.SplitMix64;

/**
 * Fits a document to a token budget. A document is built from a size (pairs of a list, tokens of a
 * haystack) with its own fixed random stream, so that a smaller attempt keeps the same keys and
 * formats; the encoded length decides whether it fits, and the next attempt shrinks the size in
 * proportion to the excess.
 */
final class Fit {
    private Fit() {}

    static final int ATTEMPTS = 5;

    interface Builder {
        Doc build(SplitMix64 rng, int size);
    }

    /**
     * The largest attempt of {@code size}, then smaller sizes, whose document fits {@code budget}; null when
     * the size falls below {@code minSize} first. {@code unitTokens}: tokens one unit of size adds at most
     * (1 for a haystack measured in tokens), used only to guess how far to shrink.
     */
    static Doc.Encoded fit(SyntheticContext context, SplitMix64 rng, int budget, int size, int minSize, Builder builder) {
        return fit(context, rng.nextLong(), budget, size, minSize, builder);
    }

    /**
     * A document around a haystack of as many tokens as the budget leaves: the document without haystack
     * is measured first, the rest of the budget goes to the haystack ({@code size} in tokens), at least
     * {@code minHaystack} of it.
     */
    static Doc.Encoded aroundHaystack(SyntheticContext context, SplitMix64 rng, int budget, int minHaystack, Builder builder) {
        long seed = rng.nextLong();
        int overhead = context.document(builder.build(new SplitMix64(seed), 0).text()).length;
        return fit(context, seed, budget, budget - overhead - 2, minHaystack, builder);
    }

    private static Doc.Encoded fit(SyntheticContext context, long seed, int budget, int size, int minSize, Builder builder) {
        for (int attempt = 0; attempt < ATTEMPTS && size >= minSize; attempt++) {
            Doc doc = builder.build(new SplitMix64(seed), size);
            int[] tokens = context.document(doc.text());
            int length = tokens.length;
            if (length <= budget) return new Doc.Encoded(doc, tokens);
            int excess = length - budget;
            // proportional to the excess, a little more on each retry (the encoded length is not exactly linear in size)
            size -= (int) Math.ceil((double) excess * size / Math.max(1, length)) + attempt + 1;
        }
        return null;
    }
}
