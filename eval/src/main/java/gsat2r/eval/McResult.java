package gsat2r.eval;

/**
 * What {@link MultipleChoiceTask} measured on one task file.
 *
 * @param agreement share of items where teacher and student pick the same choice (by {@code acc})
 */
public record McResult(String file, int items, Score teacher, Score student, double agreement) {

    /** lm-evaluation-harness's metrics and their standard errors. */
    public record Score(double acc, double accStderr, double accNorm, double accNormStderr) {}
}
