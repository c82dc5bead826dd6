package gsat2r.eval.harness;

import gsat2r.datasets.Row;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * One lm-evaluation-harness task: where its documents are (the Hugging Face dataset, its configuration and
 * split), how a row becomes a {@link Doc}, which metrics it reports, and its configuration as the harness's
 * results file records it.
 *
 * @param datasetPath  the dataset's Hugging Face name ({@code allenai/ai2_arc})
 * @param datasetName  its configuration ({@code ARC-Easy}), or null
 * @param split        the split evaluated
 * @param shots        where its few-shot examples come from and how they are drawn
 * @param description  text before everything else in each prompt (MMLU's subject line), or ""
 * @param version      the task's {@code metadata.version}
 * @param metrics      the metrics of its {@code metric_list}, in order
 */
public record HarnessTask(String name, String alias, String datasetPath, String datasetName, String split,
                          Shots shots, String description, Number version, OutputType outputType,
                          List<String> metrics, Function<Row, Doc> toDoc, Map<String, Object> config) {

    public enum OutputType {
        MULTIPLE_CHOICE("multiple_choice"), LOGLIKELIHOOD("loglikelihood"), LOGLIKELIHOOD_ROLLING("loglikelihood_rolling");

        final String harnessName;

        OutputType(String harnessName) {
            this.harnessName = harnessName;
        }
    }

    /** Where a task's few-shot examples come from, and how the harness draws them. */
    public sealed interface Shots {
        /** The first n documents of a split, the same for every document ({@code fewshot_config.sampler: first_n}). */
        record FirstN(String split) implements Shots {}

        /**
         * The harness's default sampler: n documents of a split (the training split, or for a task with none its test
         * split, which may then give a document itself as an example) drawn anew for each document evaluated, in order, by
         * {@code random.Random(1234).sample} (the seed reset per task). With {@code excludesEvaluated} (the task's
         * few-shot split and test split are the same, which includes both absent) it draws n + 1, drops any that
         * equals the document evaluated and keeps the first n.
         */
        record Drawn(String split, boolean excludesEvaluated) implements Shots {}

        /** No n-shot in t2r, for the reason given. */
        record Unsupported(String why) implements Shots {}
    }

    /** A group of tasks whose {@code acc} the harness averages weighted by the tasks' sizes (MMLU and its categories). */
    public record Group(String name, String alias, List<String> children, Number version) {}

    static boolean higherIsBetter(String metric) {
        return metric.startsWith("acc");
    }
}
