package gsat2r.eval;

import java.nio.file.Path;
import java.util.List;

/**
 * What {@code t2r eval} was asked to do.
 *
 * @param data            held-out text for {@code lm} (see {@link Documents}); may be null without lm
 * @param maxTokens       at most this many predicted tokens for lm
 * @param context         tokens per lm window; the longest recall and passkey prompt
 * @param device          where the models run ({@code cpu}, {@code cuda}), for the report
 * @param seed            the seed every random prompt derives from
 * @param samples         prompts per grid point of recall and passkey
 * @param speedMaxContext the longest context the speed task measures
 * @param toolVersion     t2r's version, for the report
 */
public record EvalSettings(Path data, long maxTokens, int context, String device, List<TaskSpec> tasks, long seed,
                           int samples, int speedMaxContext, String toolVersion) {

    public EvalSettings {
        tasks = List.copyOf(tasks);
        if (context < 2) throw new IllegalArgumentException("context must be at least 2, not " + context);
        if (samples < 1) throw new IllegalArgumentException("samples must be at least 1, not " + samples);
        if (maxTokens < 1) throw new IllegalArgumentException("maxTokens must be at least 1, not " + maxTokens);
    }

    public boolean has(TaskSpec.Kind kind) {
        return tasks.stream().anyMatch(t -> t.kind() == kind);
    }
}
