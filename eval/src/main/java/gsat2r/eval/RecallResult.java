package gsat2r.eval;

import java.util.List;

/**
 * What {@link RecallTask} measured.
 *
 * @param wordPool   words of the vocabulary usable as keys and values
 * @param wordSource which: single-token words of the vocabulary, or those of them that occur in the data
 * @param samples  prompts per number of pairs
 * @param example  the text of the first prompt of the smallest grid point
 */
public record RecallResult(int wordPool, String wordSource, int samples, String example, List<Point> points) {

    /**
     * Accuracy over {@code queries} queries of prompts of {@code length} tokens holding {@code pairs} pairs:
     * the value is the most likely next token ({@code accuracy}), the value outranks the prompt's other
     * values ({@code amongValues}, chance 1/pairs), and the value's mean log-probability in nats.
     */
    public record Point(int pairs, int length, long queries, double teacherAccuracy, double studentAccuracy,
                        double teacherAmongValues, double studentAmongValues,
                        double teacherValueLogProb, double studentValueLogProb) {}
}
