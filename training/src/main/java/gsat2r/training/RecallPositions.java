package gsat2r.training;

import java.util.HashSet;
import java.util.Set;

/**
 * Positions whose target can be copied from earlier in the same sequence: the target and the two tokens
 * before it occurred together, in that order, earlier in the window (a repeated trigram). Those are the
 * positions where an induction head (Olsson et al. 2022) finds the answer: the value after a key in a
 * key-value list looked up again, the number after "the pass key is" asked again, the rest of a repeated
 * span. Copying is what a recurrent student loses first, and such positions are few among all positions, so
 * a loss that counts them more ({@code stages[i].recall_weight}) spends more of the gradient on them.
 *
 * <p>A pure function of the batch's tokens: no data format or generator needs to mark its answers, corpus
 * text counts too (names and phrases repeated within a window), and resuming a run gives the same weights.
 */
public final class RecallPositions {
    private RecallPositions() {}

    /**
     * Per target position ({@code s·length + t}, as {@link TokenBatch#positions()} counts them) the loss weight:
     * {@code weight} where the target repeats an earlier trigram of its sequence, 1 elsewhere; null when
     * {@code weight} is 1 (nothing to weigh).
     */
    public static float[] weights(TokenBatch batch, double weight) {
        if (weight == 1) return null;
        int B = batch.sequences(), T = batch.length();
        float[] w = new float[B * T];
        for (int s = 0; s < B; s++) {
            boolean[] copy = copyTargets(batch, s);
            for (int t = 0; t < T; t++) w[s * T + t] = copy[t] ? (float) weight : 1f;
        }
        return w;
    }

    /**
     * For each position t of sequence s: whether (input t − 1, input t, target t) occurred as three consecutive
     * tokens ending at or before input t. Position 0 has no token before it and is never a copy.
     */
    public static boolean[] copyTargets(TokenBatch batch, int s) {
        int T = batch.length();
        boolean[] copy = new boolean[T];
        Set<Long> seen = new HashSet<>();
        long stride = 1L << 21;                     // token ids < 2^21: three of them fit in a long
        for (int t = 1; t < T; t++) {
            int a = batch.input(s, t - 1), b = batch.input(s, t), c = batch.target(s, t);
            if (t >= 2) seen.add(key(batch.input(s, t - 2), a, b, stride));
            copy[t] = seen.contains(key(a, b, c, stride));
        }
        return copy;
    }

    private static long key(int a, int b, int c, long stride) {
        if (a < 0 || b < 0 || c < 0 || a >= stride || b >= stride || c >= stride) {
            throw new IllegalArgumentException("token id out of range: " + a + ", " + b + ", " + c);
        }
        return (a * stride + b) * stride + c;
    }
}
