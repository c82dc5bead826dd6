package gsat2r.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.NullNode;
import gsat2r.core.model.LanguageModel;

import java.nio.file.Path;

/**
 * A model under evaluation: its role ({@code teacher} or {@code student}), the directory it was loaded
 * from (null for a model built in memory), the model, and a summary of its configuration for the
 * report (what {@code t2r inspect} shows; any JSON).
 */
public record EvalModel(String role, Path dir, LanguageModel model, JsonNode summary) {

    public EvalModel {
        if (summary == null) summary = NullNode.getInstance();
    }

    public static EvalModel of(String role, LanguageModel model) {
        return new EvalModel(role, null, model, null);
    }
}
