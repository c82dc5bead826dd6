package gsat2r.gpumodels;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.llama.LlamaTensor;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaContext;
import gsat2r.training.MemoryPlan;
import gsat2r.training.Objective;
import gsat2r.training.TrainableSet;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The device memory a recipe's stages need on one GPU, from the configs alone, as {@link CudaGsaBackend}
 * allocates it: the teacher's weights in the compute type; the student's own tensors (those conversion made
 * new, or a stage trained, when shared tensors must be given up); fp32 masters of every tensor trained so
 * far; gradients and AdamW moments (the moments divided among the ranks) of the stage's trainable set or its
 * LoRA factors; the activations of one micro-batch (with the logits a block of rows at a time); and a
 * workspace for cuBLASLt and the allocator's rounding. What is free is asked of the device.
 */
final class CudaMemoryPlan {
    private CudaMemoryPlan() {}

    /** cuBLASLt workspaces, kernel images, the caching allocator's size classes. */
    static final long WORKSPACE = 1L << 30;

    static MemoryPlan plan(MemoryPlan.Request r) {
        long free, total;
        String device;
        try (Gpu gpu = Gpu.open(CudaGsaBackend.deviceOrdinal(r.deviceIndex()))) {
            CudaContext.MemoryInfo mem = gpu.context().memoryInfo();
            free = mem.free();
            total = mem.total();
            device = "cuda:" + gpu.info().ordinal() + " (" + gpu.info().name() + ")";
        }
        return plan(r, device, free, total);
    }

    /** The plan against the given free and total bytes (no device needed: tests, and the numbers in docs). */
    static MemoryPlan plan(MemoryPlan.Request r, String device, long free, long total) {
        GsaConfig c = r.student();
        GsaLayout layout = new GsaLayout(c);
        long e = ComputeType.of(r.precision()).bytes();
        boolean teacherNeeded = r.teacher() != null && r.stages().stream().anyMatch(s -> s.objective().needsTeacher());
        boolean fp32 = e == 4;
        Set<String> trained = new LinkedHashSet<>();
        List<MemoryPlan.Stage> stages = new ArrayList<>();
        for (MemoryPlan.StageLoad stage : r.stages()) {
            List<ParameterView> set = tensors(layout, stage.trainable());
            boolean lora = stage.trainable() instanceof TrainableSet.Lora;
            Set<String> withMaster = new LinkedHashSet<>(trained);
            if (!lora) set.forEach(v -> withMaster.add(v.name()));
            long own = 0, masters = 0;
            for (ParameterView v : layout.views()) {
                boolean shared = teacherNeeded && LlamaTensor.sourceOf(v.kind()) != null;
                boolean master = withMaster.contains(v.name());
                if (master) masters += 4 * v.size();
                if (master ? !fp32 : !shared) own += e * v.size();
            }
            long trainable = lora ? loraSize(layout, ((TrainableSet.Lora) stage.trainable()).rank()) : set.stream().mapToLong(ParameterView::size).sum();
            long grads = 4 * trainable, moments = 8 * Math.ceilDiv(trainable, r.worldSize());
            long factors = lora ? (4 + e) * trainable : 0;
            long flat = r.worldSize() > 1 ? 4 * trainable : 0;
            List<MemoryPlan.Item> items = new ArrayList<>();
            items.add(new MemoryPlan.Item("teacher weights", teacherNeeded ? teacherParams(r.teacher()) * e : 0));
            items.add(new MemoryPlan.Item("student weights", own));
            items.add(new MemoryPlan.Item("fp32 masters", masters));
            items.add(new MemoryPlan.Item("LoRA factors", factors));
            items.add(new MemoryPlan.Item("gradients", grads + flat));
            items.add(new MemoryPlan.Item("AdamW moments", moments));
            items.add(new MemoryPlan.Item("activations", activations(r, stage.objective(), e)));
            items.add(new MemoryPlan.Item("workspace", WORKSPACE));
            stages.add(new MemoryPlan.Stage(stage.name(), items));
            if (lora) layout.views().stream().filter(v -> LoraGpu.isTarget(layout, v)).forEach(v -> trained.add(v.name()));
            else set.forEach(v -> trained.add(v.name()));
        }
        return new MemoryPlan(device, free, total, stages);
    }

    private static List<ParameterView> tensors(GsaLayout layout, TrainableSet set) {
        return switch (set) {
            case TrainableSet.Lora l -> List.of();
            case TrainableSet.Gates x -> layout.group("gates").views();
            case TrainableSet.Attention x -> layout.group("attention").views();
            case TrainableSet.All x -> layout.group("all").views();
        };
    }

    private static long loraSize(GsaLayout layout, int rank) {
        long n = 0;
        for (ParameterView v : layout.views()) if (LoraGpu.isTarget(layout, v)) n += (long) rank * (v.shape()[0] + v.shape()[1]);
        return n;
    }

    private static long teacherParams(LlamaConfig t) {
        return t.parameterCount().total();
    }

    /**
     * The peak of one micro-batch: attention transfer runs the teacher with one GSA layer's pass and backward
     * beside it (on the student's states, beside the student's residual entering every block); distill and
     * finetune keep the student's activations (each block's input alone with recompute), a block of logits with
     * its gradient and the teacher's final hidden state.
     */
    static long activations(MemoryPlan.Request r, Objective objective, long e) {
        return activations(r.student(), r.teacher(), r.precision(), r.microBatch(), r.sequenceLength(), r.recompute(), objective);
    }

    /** {@link #activations(MemoryPlan.Request, Objective, long)} from the parts. */
    static long activations(GsaConfig c, LlamaConfig t, gsat2r.core.model.Precision precision, int microBatch, int seqLen, boolean recompute,
                            Objective objective) {
        long e = ComputeType.of(precision).bytes();
        long n = (long) microBatch * seqLen;
        int d = c.hiddenSize(), I = c.intermediateSize(), V = c.vocabSize();
        long perGsaLayer = n * e * (4L * d + 2L * c.keyDim() + 2L * c.kvKeyDim() + 2L * c.kvValueDim()
                + 3L * c.numKvHeads() * c.numSlots() + 2L * c.valueDim() + 3L * I)
                + n * 4L * (2L * c.numHeads() * c.numSlots() + 3)
                + (long) microBatch * c.numKvHeads() * (Math.ceilDiv(seqLen, 64) + 1L) * (c.headKDim() + c.headVDim()) * c.numSlots() * e;
        long convolutions = c.shortConv() > 0 ? n * e * ((long) c.keyDim() + c.kvKeyDim() + c.kvValueDim()) : 0;
        perGsaLayer += convolutions;                     // the convolved q, k, v kept beside the projections
        long teacherScratch = t == null ? 0 : n * e * (4L * d + 2L * t.queryDim() + 2L * t.keyValueDim() + 2L * I);
        long backwardScratch = n * e * (3L * d + 2L * I + 2L * c.keyDim() + 2L * c.kvKeyDim() + c.kvValueDim()) + 2 * convolutions;
        if (objective instanceof Objective.AttentionTransfer at) {
            // on the student's states: its forward keeps every block's input, and one layer's target sits beside them
            long ownStates = at.states() == Objective.HiddenStates.STUDENT ? (c.numHiddenLayers() + 2L) * n * d * e : 0;
            return teacherScratch + 2 * perGsaLayer + backwardScratch + ownStates;
        }
        long kept = (recompute ? n * d * e : perGsaLayer) * c.numHiddenLayers() + perGsaLayer + 3 * n * d * e;
        long logits = 3L * LogitLoss.blockRows((int) Math.min(n, Integer.MAX_VALUE), V, ComputeType.of(precision)) * V * e + n * 4L * 3;
        long teacherHidden = objective.needsTeacher() ? n * d * e : 0;
        return kept + logits + teacherHidden + Math.max(objective.needsTeacher() ? teacherScratch : 0, backwardScratch);
    }
}
