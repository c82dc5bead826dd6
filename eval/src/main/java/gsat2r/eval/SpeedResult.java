package gsat2r.eval;

import java.util.List;

/**
 * What {@link SpeedTask} measured.
 *
 * @param decodeTokens tokens decoded per point (the median step gives the rate)
 * @param timeLimitS   a model's grid stops after a point that took longer than this
 */
public record SpeedResult(int decodeTokens, double timeLimitS, List<Point> points) {

    /** One context length; a model's measurement is null where its grid stopped. */
    public record Point(int context, Measurement teacher, Measurement student) {}

    /** @param stateBytes decoder state after the prefill; null when the model does not report it */
    public record Measurement(double prefillTokensPerS, double decodeTokensPerS, Long stateBytes) {}
}
