package gsat2r.eval;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Map;

/**
 * Everything {@code t2r eval} measured, as {@code report.json} holds it. A task that did not run is null
 * ({@code mc}: empty).
 *
 * @param started when the evaluation started (UTC, ISO 8601)
 * @param cached  per task key: whether its result came from the work directory of an earlier run
 * @param needles the RULER-style retrieval tasks that ran, by name ({@code niah_single}, …, {@code vt}), in task order
 */
public record EvalReport(EvalSettings settings, Model teacher, Model student, String started, Map<String, Boolean> cached,
                         LmResult lm, RecallResult recall, PasskeyResult passkey, List<McResult> mc, SpeedResult speed,
                         Map<String, NeedleResult> needles) {

    public EvalReport {
        needles = needles == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(needles));
    }

    /** A model as the report names it: its directory (null when built in memory) and a summary of its config. */
    public record Model(String role, String path, int vocabSize, JsonNode summary) {}
}
