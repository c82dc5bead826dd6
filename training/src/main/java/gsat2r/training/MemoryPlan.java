package gsat2r.training;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.model.Precision;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * What a run needs of a device's memory, stage by stage, against what the device has free: the trainer
 * asks for it before any work ({@link Device#plan}) and refuses a recipe whose largest stage does not fit,
 * naming what takes how much and what to change.
 *
 * @param device    for messages, e.g. {@code cuda:0 NVIDIA H200}
 * @param freeBytes what the device has free now
 */
public record MemoryPlan(String device, long freeBytes, long totalBytes, List<Stage> stages) {

    public MemoryPlan {
        stages = List.copyOf(stages);
    }

    /** What a plan is made for: the models' configs, the precision, the micro-batch and the stages of the recipe. */
    public record Request(LlamaConfig teacher, GsaConfig student, Precision precision, int microBatch, int sequenceLength,
                          boolean recompute, List<StageLoad> stages, int worldSize, int deviceIndex) {
        public Request {
            stages = List.copyOf(stages);
        }
    }

    /** A stage as the plan sees it: its objective and what it trains. */
    public record StageLoad(String name, Objective objective, TrainableSet trainable) {}

    /** One line of a stage's needs. */
    public record Item(String what, long bytes) {}

    /** One stage's needs. */
    public record Stage(String name, List<Item> items) {
        public Stage {
            items = List.copyOf(items);
        }

        public long totalBytes() {
            return items.stream().mapToLong(Item::bytes).sum();
        }

        /** e.g. {@code teacher weights 15.0 GiB + ... = 38.2 GiB}. */
        public String describe() {
            List<String> parts = new ArrayList<>();
            for (Item i : items) if (i.bytes() > 0) parts.add(i.what() + " " + gib(i.bytes()));
            return String.join(" + ", parts) + " = " + gib(totalBytes());
        }
    }

    /** The stage that needs the most. */
    public Stage largest() {
        return stages.stream().max(Comparator.comparingLong(Stage::totalBytes)).orElse(new Stage("none", List.of()));
    }

    public boolean fits() {
        return largest().totalBytes() <= freeBytes;
    }

    /** One line for a refusal: the stage that does not fit, what it needs, what is free, and what to change. */
    public String refusal() {
        Stage s = largest();
        return device + " cannot hold stage '" + s.name() + "': " + s.describe() + ", but " + gib(freeBytes) + " of "
                + gib(totalBytes) + " are free; lower micro_batch (raise grad_accum to keep the batch), set \"recompute\": true, "
                + "train lora:R instead of whole tensors, or spread the optimizer state over more GPUs with --gpus N";
    }

    /** e.g. {@code 1.50 GiB}. */
    public static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
