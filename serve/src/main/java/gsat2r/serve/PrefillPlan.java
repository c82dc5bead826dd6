package gsat2r.serve;

/**
 * Where a prompt's prefill stops on its way: at every multiple of {@link PrefixCache#BLOCK} tokens that leaves at
 * least two tokens after it, so that the state there can be cached and every piece but a whole one-token prompt
 * is run by the chunked form (see {@link PrefixCache} for why this keeps the numbers of one uninterrupted
 * prefill). Also the unit of the scheduler's chunked prefill: a long prompt is fed a piece at a time between
 * decode steps.
 */
final class PrefillPlan {
    private PrefillPlan() {}

    /** The last boundary at which a prompt of {@code n} tokens may be cut (0: none). */
    static int lastBoundary(int n) {
        return n < 2 ? 0 : (n - 2) / PrefixCache.BLOCK * PrefixCache.BLOCK;
    }

    /** The end of the piece that starts at {@code from} (a boundary or 0) in a prompt of {@code n} tokens. */
    static int pieceEnd(int from, int n) {
        int next = from + PrefixCache.BLOCK;
        return next <= lastBoundary(n) ? next : n;
    }

    /** Whether the prefill of a prompt of {@code n} tokens stops at {@code position} (a state worth caching). */
    static boolean isBoundary(int position, int n) {
        return position > 0 && position % PrefixCache.BLOCK == 0 && position <= lastBoundary(n);
    }
}
