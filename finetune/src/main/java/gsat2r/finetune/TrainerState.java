package gsat2r.finetune;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;

import java.nio.file.Path;

/**
 * Where a run stands, as {@code trainer.json} of a checkpoint records it: the stage in progress (its
 * index; {@code stages.size()} once all are done) and the steps of it completed, the optimizer steps in
 * total, the training sequences consumed (the data position: the k-th sequence of a run is a pure
 * function of the seed and k, see {@link gsat2r.core.data.SequenceOrder}), the tokens trained, and the
 * seconds spent so far. Every random draw of a run derives from the recipe's seed and these counters
 * (data order per epoch, LoRA initialisation per stage), so they are the whole random state.
 */
record TrainerState(int stage, long stageStep, long globalStep, long sequences, long tokens, double elapsedSeconds) {

    static final String FORMAT = "gsa-t2r checkpoint";
    static final int VERSION = 1;

    static TrainerState start() {
        return new TrainerState(0, 0, 0, 0, 0, 0);
    }

    TrainerState afterStep(int batch, int seqLen, double elapsed) {
        return new TrainerState(stage, stageStep + 1, globalStep + 1, sequences + batch, tokens + (long) batch * seqLen, elapsed);
    }

    TrainerState nextStage() {
        return new TrainerState(stage + 1, 0, globalStep, sequences, tokens, elapsedSeconds);
    }

    TrainerState withElapsed(double seconds) {
        return new TrainerState(stage, stageStep, globalStep, sequences, tokens, seconds);
    }

    ObjectNode toJson(String stageName, long seed, long windows, long metricsBytes) {
        ObjectNode o = Json.COMPACT.createObjectNode();
        o.put("format", FORMAT);
        o.put("version", VERSION);
        o.put("stage", stage);
        o.put("stage_name", stageName);
        o.put("stage_step", stageStep);
        o.put("global_step", globalStep);
        o.put("sequences", sequences);
        o.put("tokens", tokens);
        o.put("elapsed_seconds", elapsedSeconds);
        o.put("seed", seed);
        o.put("train_windows", windows);
        o.put("metrics_bytes", metricsBytes);
        return o;
    }

    static TrainerState fromJson(JsonNode o, Path file) {
        if (!FORMAT.equals(o.path("format").asText()) || o.path("version").asInt(-1) != VERSION) {
            throw new T2rException(file + ": not a version-" + VERSION + " checkpoint");
        }
        for (String k : new String[] {"stage", "stage_step", "global_step", "sequences", "tokens", "elapsed_seconds"}) {
            if (!o.path(k).isNumber()) throw new T2rException(file + ": missing \"" + k + "\"");
        }
        return new TrainerState(o.get("stage").asInt(), o.get("stage_step").asLong(), o.get("global_step").asLong(),
                o.get("sequences").asLong(), o.get("tokens").asLong(), o.get("elapsed_seconds").asDouble());
    }
}
