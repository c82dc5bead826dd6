package gsat2r.eval;

import java.util.List;

/**
 * What {@link PasskeyTask} measured.
 *
 * @param depths  where the passkey sits in the filler (0 = start, 1 = end)
 * @param samples prompts per length (they cycle through the depths)
 * @param example the text of the shortest prompt, with its passkey
 */
public record PasskeyResult(List<Double> depths, int samples, String example, List<Point> points) {

    /**
     * Prompts of about {@code length} tokens ({@code meanLength} measured, answer included), and each prompt's
     * {@link Answer} in the order asked.
     */
    public record Point(int length, double meanLength, int prompts, Score teacher, Score student, List<Answer> answers) {}

    /**
     * What the models answered to one prompt: at each of the passkey's tokens, the token each model ranks first
     * with the right tokens before it (teacher-forced), each decoded on its own. A wrong first digit followed by
     * right ones says the model copies once started; a word says it did not take the question for a lookup.
     */
    public record Answer(double depth, int passkey, List<String> teacher, List<String> student) {}

    /**
     * @param accuracy           share of prompts where greedy decoding reproduces the passkey's tokens
     * @param tokenAccuracy      share of the passkey's tokens that are the greedy choice (teacher-forced)
     * @param answerLogProb      mean log-probability of the passkey's tokens (nats per token, teacher-forced)
     * @param accuracyByDepth    accuracy per depth (null where no prompt had that depth)
     * @param firstTokenAccuracy share of prompts whose passkey's first token is the greedy choice: whether the model
     *                           finds the passkey at all
     * @param laterTokenAccuracy share of the passkey's later tokens that are the greedy choice with the right ones
     *                           before them: whether it copies on once started (null when every passkey is one token)
     */
    public record Score(double accuracy, double tokenAccuracy, double answerLogProb, List<Double> accuracyByDepth,
                        double firstTokenAccuracy, Double laterTokenAccuracy) {}
}
