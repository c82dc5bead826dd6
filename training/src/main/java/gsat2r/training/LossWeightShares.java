package gsat2r.training;

import gsat2r.core.data.synthetic.SyntheticKind;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where a distill stage's loss weights fall in a sample of its training sequences: the share of the target positions
 * that are copies ({@link RecallPositions}) and answers of each synthetic kind, and the share of the weighted loss
 * each carries. A weight of 24 on a tenth of a percent of the targets moves little; one of 8 on a tenth of them moves
 * the loss. Copies and answers overlap (most answers are copies), so the shares need not add up.
 *
 * @param positions  target positions counted
 * @param copies     of them, copy positions
 * @param answers    of them, answers of each kind, indexed by {@link SyntheticKind#answerMark} (0: no answer)
 * @param weight     the sum of the loss weights of every position
 * @param copyWeight the sum of the loss weights of the copy positions
 * @param answerWeight the sum of the loss weights of each kind's answers, indexed as {@code answers}
 */
public record LossWeightShares(long positions, long copies, long[] answers, double weight, double copyWeight, double[] answerWeight) {

    /** The shares in {@code batch} under {@code objective}'s weights (its marks, when the batch has them). */
    public static LossWeightShares of(Objective.Distill objective, TokenBatch batch) {
        float[] w = objective.positionWeights(batch);
        int B = batch.sequences(), T = batch.length(), marks = SyntheticKind.NAMES.size() + 1;
        long copies = 0;
        long[] answers = new long[marks];
        double total = 0, copyWeight = 0;
        double[] answerWeight = new double[marks];
        for (int s = 0; s < B; s++) {
            boolean[] copy = RecallPositions.copyTargets(batch, s);
            for (int t = 0; t < T; t++) {
                double x = w == null ? 1 : w[s * T + t];
                int mark = batch.answerMark(s, t);
                total += x;
                answers[mark]++;
                answerWeight[mark] += x;
                if (copy[t]) {
                    copies++;
                    copyWeight += x;
                }
            }
        }
        return new LossWeightShares((long) B * T, copies, answers, total, copyWeight, answerWeight);
    }

    /**
     * One line for the run's notes, e.g. "targets: copies 27.8%, kv-recall answers 10.4%, needles answers 0.11%; loss
     * weight: copies 61%, kv-recall answers 55%, needles answers 1.4% (3.1 per target)", kinds without answers left out.
     */
    public String describe() {
        List<String> targets = new ArrayList<>(), carried = new ArrayList<>();
        targets.add("copies " + percent((double) copies / positions));
        carried.add("copies " + percent(share(copyWeight)));
        for (String kind : SyntheticKind.NAMES) {
            int m = SyntheticKind.answerMark(kind);
            if (answers[m] == 0) continue;
            targets.add(kind + " answers " + percent((double) answers[m] / positions));
            carried.add(kind + " answers " + percent(share(answerWeight[m])));
        }
        return "targets: " + String.join(", ", targets) + "; loss weight: " + String.join(", ", carried)
                + String.format(Locale.ROOT, " (%.2f per target)", weight / positions);
    }

    /** The share of the loss weight that {@code w} is (0 when every position weighs nothing). */
    private double share(double w) {
        return weight == 0 ? 0 : w / weight;
    }

    /** Two significant digits at least, and one decimal from 10% on: 0.11%, 1.4%, 27.8%. */
    static String percent(double share) {
        double p = 100 * share;
        if (p == 0) return "0%";
        if (p >= 10) return String.format(Locale.ROOT, "%.1f%%", p);
        int decimals = Math.max(1, 1 - (int) Math.floor(Math.log10(p)));
        return String.format(Locale.ROOT, "%." + decimals + "f%%", p);
    }
}
