package gsat2r.eval;

import java.util.List;

/**
 * What one {@link NeedleTask} measured.
 *
 * @param task     {@code niah_single}, {@code niah_multikey}, {@code niah_multivalue} or {@code vt}
 * @param haystack where the haystack text came from: {@code data} (the --data documents) or {@code noise}
 *                 (repeated filler sentences)
 * @param samples  prompts per length
 * @param example  the shortest prompt's text with its answer
 */
public record NeedleResult(String task, String haystack, int samples, String example, List<Point> points) {

    /** Prompts of about {@code length} tokens ({@code meanLength} measured, answer included). */
    public record Point(int length, double meanLength, int prompts, Score teacher, Score student) {}

    /**
     * @param accuracy      share of prompts whose every expected value greedy decoding reproduces (teacher-forced)
     * @param valueRecall   share of the expected values reproduced (RULER's string_match_all, per value)
     * @param answerLogProb mean log-probability of the answer's tokens (nats per token, teacher-forced)
     */
    public record Score(double accuracy, double valueRecall, double answerLogProb) {}
}
