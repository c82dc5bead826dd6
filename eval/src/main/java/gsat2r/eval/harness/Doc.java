package gsat2r.eval.harness;

import gsat2r.datasets.Row;

import java.util.List;
import java.util.Map;

/**
 * One evaluation document as a task turns it into requests, before any few-shot prefix:
 * the four forms of lm-evaluation-harness's loglikelihood requests that the supported tasks use.
 */
sealed interface Doc {

    /** The dataset row the document came from, with any fields the task's preprocessing adds. */
    Map<String, Object> fields();

    /** {@code multiple_choice}: one query, a continuation per choice ({@code target_delimiter + choice}). */
    record Choices(Map<String, Object> fields, String query, List<String> choices, int gold, Object target) implements Doc {}

    /** {@code multiple_choice} with several inputs (WinoGrande): a context per choice, one shared continuation. */
    record Inputs(Map<String, Object> fields, List<String> contexts, String continuation, int gold) implements Doc {}

    /** {@code loglikelihood} (LAMBADA): a context and the continuation scored after it. */
    record Target(Map<String, Object> fields, String context, String continuation) implements Doc {}

    /**
     * {@code loglikelihood_rolling} (wikitext): the text scored whole, and the words and bytes its
     * perplexities are divided over (counted on the original text, before detokenizing).
     */
    record Rolling(Map<String, Object> fields, String text, long words, long bytes) implements Doc {}

    static Map<String, Object> of(Row row) {
        return row.fields();
    }
}
