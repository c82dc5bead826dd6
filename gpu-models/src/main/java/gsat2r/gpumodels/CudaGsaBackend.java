package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.ModelFingerprint;
import gsat2r.core.model.Precision;
import gsat2r.core.model.gsa.GsaCheckpoint;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorSpec;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Cuda;
import gsat2r.gpu.cuda.CudaContext;
import gsat2r.gpu.cuda.CudaException;
import gsat2r.gpu.nccl.Nccl;
import gsat2r.gpu.ops.Mse;
import gsat2r.gpu.ops.Reduce;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendOutOfMemoryException;
import gsat2r.training.BackendRequest;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.StateNames;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.TrainingBackend;
import gsat2r.training.distributed.BucketSchedule;
import gsat2r.training.distributed.ProcessGroup;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * The {@link TrainingBackend} of GSA students on an NVIDIA GPU (device {@code cuda}): the frozen teacher
 * ({@link LlamaModel}, Llama or Mistral) and the student ({@link GsaModel}) resident on the device.
 * Nothing but token ids goes in and a few sums come out.
 *
 * <p>Memory, lean: frozen tensors exist only in the compute type, and those the student converted
 * unchanged from the teacher are the teacher's own memory; fp32 masters, gradients and AdamW moments exist
 * for what trains ({@link StudentWeights}, {@link CudaTrainable}, {@link CudaOptimizer}); LoRA adds a
 * low-rank path and nothing the size of a weight ({@link LoraGpu}); the logits are made a block of rows at
 * a time ({@link LogitLoss}). {@link CudaMemoryPlan} says before a run whether its stages fit.
 *
 * <p>The objectives, exactly as {@link Objective} defines them and {@code CpuGsaBackend} computes them:
 * <ul>
 * <li>attention transfer: the teacher runs layer by layer; after its layer l's attention, the student's
 *     GSA layer l runs on {@code attn_norm_l(h_l)} (the teacher's residual, the student's norm), its MSE
 *     against the teacher's attention output is taken and its backward run at once (no full student
 *     forward, and one layer's activations at a time);</li>
 * <li>distill: {@code (1 − w)·τ²·KL + w·CE} fused with their gradients, then the student's backward;</li>
 * <li>finetune: cross-entropy alone.</li>
 * </ul>
 *
 * <p>Deterministic: no kernel on the training path uses atomics (the embedding and norm weight gradients
 * use the ordered reductions of {@code train.cu}; attention and GSA backward have none; cuBLASLt runs a
 * fixed algorithm per shape), and every sum is fp64 in a fixed order: the same calls on a fresh backend give
 * the same bits. The training state uses {@link StateNames}, as every backend does, so a run may resume on
 * another device.
 *
 * <p>Data parallel (a request whose group has several ranks, docs/distributed.md): a
 * {@link DeviceDataParallel} sums the gradients across ranks bucket by bucket while the step's last
 * micro-batch's backward runs (NCCL on a communication stream, or through the host where NCCL cannot be
 * used: {@link TransportSelection}), and shards the AdamW moments (ZeRO stage 1).
 */
public final class CudaGsaBackend implements TrainingBackend {

    private final Gpu gpu;
    private final Precision precision;
    private final LlamaModel teacher;          // null when the run does not need it
    private final GsaModel student;
    private final GsaModel.Memory memory;
    private final ModelDirectory studentDir;
    private final String deviceName;
    private final CudaOptimizer optimizer;
    private final DeviceDataParallel dp;       // null for one process
    private final DeviceBuffer clipFactor;
    private CudaTrainable trainable = new CudaTrainable.Nothing();
    private String baseFingerprint;

    private CudaGsaBackend(Gpu gpu, Precision precision, LlamaModel teacher, GsaModel student, BackendRequest r, DeviceDataParallel dp) {
        this.gpu = gpu;
        this.precision = precision;
        this.teacher = teacher;
        this.student = student;
        this.memory = r.recompute() ? GsaModel.Memory.RECOMPUTE : GsaModel.Memory.KEEP;
        this.studentDir = r.student();
        this.deviceName = "cuda:" + gpu.info().ordinal();
        this.dp = dp;
        this.optimizer = dp == null ? new CudaOptimizer.Local(gpu) : new CudaOptimizer.Sharded(gpu, dp);
        this.clipFactor = gpu.f32(1);
    }

    /** Opens the GPU, loads the teacher (when needed) and the student, and joins the request's group. */
    public static CudaGsaBackend open(BackendRequest r) {
        if (r.needsTeacher()) {
            r.requireMatchingPair();
            LlamaModel.checkSupported(r.teacher().teacherConfig(), r.teacher().path());
        }
        GsaModel.checkSupported(r.student().studentConfig(), r.student().configFile());
        Gpu gpu = Gpu.open(deviceOrdinal(r.deviceIndex()));
        LlamaModel teacher = null;
        GsaModel student = null;
        try {
            var type = ComputeType.of(r.precision());
            if (r.needsTeacher()) teacher = LlamaModel.load(gpu, r.teacher(), type);
            student = new GsaModel(gpu, r.student(), type, teacher);
            requireActivationMemory(gpu, r);
            DeviceDataParallel dp = r.dataParallel() ? joinGroup(gpu, r.group(), r.parallel()) : null;
            return new CudaGsaBackend(gpu, r.precision(), teacher, student, r, dp);
        } catch (CudaException e) {
            RuntimeException out = e.isOutOfMemory() ? oom(gpu, "cuda:" + gpu.info().ordinal(), "the teacher and student weights", -1, e) : e;
            closeQuietly(teacher, student, gpu);
            throw out;
        } catch (RuntimeException e) {
            closeQuietly(teacher, student, gpu);
            throw e;
        }
    }

    /**
     * Refuses a micro-batch whose activations (the largest objective's, {@link CudaMemoryPlan#activations}) exceed
     * what the device has free once the weights are loaded.
     */
    private static void requireActivationMemory(Gpu gpu, BackendRequest r) {
        Objective worst = r.needsTeacher() ? new Objective.Distill(1, 0) : new Objective.LanguageModeling();
        long need = CudaMemoryPlan.activations(r.student().studentConfig(), r.needsTeacher() ? r.teacher().teacherConfig() : null,
                r.precision(), r.microBatch(), r.sequenceLength(), r.recompute(), worst);
        CudaContext.MemoryInfo mem = gpu.context().memoryInfo();
        if (need > mem.free()) {
            throw new BackendOutOfMemoryException("cuda:" + gpu.info().ordinal(), "the activations of a micro-batch of " + r.microBatch() + " x "
                    + r.sequenceLength() + " tokens (planned" + (r.recompute() ? ", with recompute" : "") + ")", need, mem.free(), mem.total(), null);
        }
    }

    /** The gradient transport of a rank (NCCL, else through the host), chosen together by every rank. */
    private static DeviceDataParallel joinGroup(Gpu gpu, ProcessGroup group, gsat2r.training.distributed.DataParallelOptions options) {
        TransportSelection.RankDevice me = new TransportSelection.RankDevice(group.rank(), hostName(), gpu.context().pciAddress(),
                Nccl.available() ? null : Nccl.unavailableReason());
        TransportSelection.Request request = options.transport().equals("auto") ? TransportSelection.configured()
                : TransportSelection.Request.valueOf(options.transport().toUpperCase(java.util.Locale.ROOT));
        TransportSelection.Decision decision = TransportSelection.decide(request,
                TransportSelection.decodeAll(group.allGather(me.encode())));
        if (decision.note() != null && group.rank() == 0) System.err.println("note: " + decision.note());
        GradientTransport transport = decision.kind() == TransportSelection.Kind.NCCL ? NcclTransport.join(gpu, group) : new HostTransport(group);
        return new DeviceDataParallel(gpu, group, options, transport);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";      // one machine's ranks still agree with each other
        }
    }

    /**
     * The GPU of a rank: {@code BackendRequest.deviceIndex} (its LOCAL_RANK); a single process (index 0) may
     * pick another with {@code -Dgsat2r.gpu.device}. An index beyond the visible GPUs is a one-line error.
     */
    static int deviceOrdinal(int deviceIndex) {
        Cuda.requireAvailable();
        int ordinal = deviceIndex == 0 ? Integer.getInteger("gsat2r.gpu.device", 0) : deviceIndex;
        int count = Cuda.deviceCount();
        if (ordinal >= count) {
            throw new T2rException("cuda: this rank needs GPU " + ordinal + " (LOCAL_RANK " + deviceIndex + "), but " + count
                    + " GPU(s) are visible here (CUDA_VISIBLE_DEVICES?): use --gpus " + count + " or fewer");
        }
        return ordinal;
    }

    private static void closeQuietly(LlamaModel teacher, GsaModel student, Gpu gpu) {
        try {
            if (student != null) student.close();
            if (teacher != null) teacher.close();
        } finally {
            gpu.close();
        }
    }

    static BackendOutOfMemoryException oom(Gpu gpu, String device, String what, long requested, CudaException e) {
        long free = -1, total = -1;
        try {
            gpu.allocator().releaseCached();
            CudaContext.MemoryInfo mem = gpu.context().memoryInfo();
            free = mem.free();
            total = mem.total();
        } catch (RuntimeException ignored) {
            // the sizes stay unknown
        }
        return new BackendOutOfMemoryException(device, what, requested, free, total, e);
    }

    /** Runs {@code work}, reporting a device allocation failure as {@link BackendOutOfMemoryException}. */
    private <T> T guarded(String what, Supplier<T> work) {
        try {
            return work.get();
        } catch (CudaException e) {
            if (!e.isOutOfMemory()) throw e;
            throw oom(gpu, deviceName, what, -1, e);
        }
    }

    // ------------------------------------------------------------------ identity

    public Precision precision() {
        return precision;
    }

    @Override
    public String description() {
        long[] w = student.weights.bytes();
        return String.format(java.util.Locale.ROOT, "%s %s (%s compute; teacher %.2f GiB, student %.2f GiB own + %.2f GiB shared with the teacher)",
                deviceName, gpu.info().name(), precision, teacher == null ? 0 : teacher.weightBytes() / GIB, w[0] / GIB, w[1] / GIB);
    }

    private static final double GIB = 1L << 30;

    @Override
    public int vocabSize() {
        return student.vocabSize();
    }

    @Override
    public List<ParameterInfo> parameters() {
        return student.layout.views().stream().map(v -> new ParameterInfo(v.name(), v.shape())).toList();
    }

    // ------------------------------------------------------------------ trainable sets

    @Override
    public List<ParameterInfo> setTrainable(TrainableSet set, long seed) {
        if (trainable instanceof CudaTrainable.Adapters) throw new IllegalStateException("merge the LoRA adapters of the previous stage first");
        guarded("the trainable tensors of " + set.spelling(), () -> {
            trainable = CudaTrainable.of(set, student, seed);
            optimizer.setTrainable(trainable.tensors());
            return null;
        });
        return trainable.tensors().stream().map(DeviceDataParallel.Tensor::info).toList();
    }

    @Override
    public void mergeLora() {
        if (!(trainable instanceof CudaTrainable.Adapters a)) return;
        guarded("the merged LoRA weights", () -> {
            a.lora.mergeInto(student.weights);
            return null;
        });
        student.lora = null;
        a.lora.close();
        trainable = new CudaTrainable.Nothing();
        optimizer.setTrainable(List.of());
    }

    @Override
    public Map<String, float[]> loraFactors() {
        return trainable instanceof CudaTrainable.Adapters a ? a.lora.factors() : Map.of();
    }

    // ------------------------------------------------------------------ objectives

    @Override
    public LossSums forwardBackward(Objective objective, TokenBatch batch, double gradScale, boolean lastOfStep) {
        DeviceDataParallel.Reduction reduction = lastOfStep && dp != null ? dp.startReduction() : null;
        long[] offsets = trainable.layoutOffsets();
        LongConsumer finalFrom = reduction == null || offsets.length == 0 ? from -> {}
                : from -> reduction.gradientsFinalFrom(BucketSchedule.firstTensorAtOrAbove(offsets, from));
        LossSums sums = guarded("a training step on " + batch.sequences() + " x " + batch.length() + " tokens",
                () -> run(objective, batch, true, gradScale, finalFrom));
        if (reduction != null) reduction.finishBackward();
        return sums;
    }

    @Override
    public LossSums evaluate(Objective objective, TokenBatch batch) {
        return guarded("an evaluation on " + batch.sequences() + " x " + batch.length() + " tokens",
                () -> run(objective, batch, false, 0, from -> {}));
    }

    private LossSums run(Objective objective, TokenBatch batch, boolean backward, double gradScale, LongConsumer finalFrom) {
        if (objective.needsTeacher() && teacher == null) {
            throw new IllegalStateException("the backend was opened without the teacher, which " + objective.type() + " needs");
        }
        try (DeviceBatch b = DeviceBatch.of(gpu, batch, student.vocabSize())) {
            return switch (objective) {
                case Objective.AttentionTransfer at -> attentionTransfer(at.states(), b, backward, gradScale);
                case Objective.Distill d -> logitLoss(b, d.temperature(), d.ceWeight(), true, backward, gradScale,
                        backward ? d.positionWeights(batch) : null, finalFrom);
                case Objective.LanguageModeling lm -> logitLoss(b, 1, 1, false, backward, gradScale, null, finalFrom);
            };
        }
    }

    /**
     * Per GSA layer l: {@code Σ_p mean_j (y_l(p)_j − a_l(p)_j)²} with {@code y_l = layer_l(attn_norm_l(h_l))}, {@code h_l}
     * and {@code a_l} the teacher's (its residual and attention output, seen from its forward pass) or, on the
     * student's states, the student's residual (its forward pass, each block's input kept) and the teacher's layer-l
     * attention on it.
     */
    private LossSums attentionTransfer(Objective.HiddenStates states, DeviceBatch b, boolean backward, double gradScale) {
        GsaConfig c = student.config;
        ParameterGroup group = trainable.backwardGroup();
        if (backward) Objective.AttentionTransfer.requireMixerTensors(group.views(), c);
        int n = b.tokens, d = c.hiddenSize();
        List<Integer> gsaLayers = new ArrayList<>();
        for (int l = 0; l < c.numHiddenLayers(); l++) if (c.isGsaLayer(l)) gsaLayers.add(l);
        if (gsaLayers.isEmpty()) throw new IllegalStateException("attention transfer needs a GSA layer; this student has none");
        try (Buffers s = new Buffers(gpu, student.type())) {
            DeviceBuffer lossRows = s.f32((long) n * gsaLayers.size());
            DeviceBuffer sums = s.i32(2L * (gsaLayers.size() + 1));
            LayerTerm term = (l, hIn, attnOut) -> transferLayer(l, hIn, attnOut, b, backward && layerTrains(student.blocks().get(l), group),
                    group, lossRows.view((long) gsaLayers.indexOf(l) * n, n), (float) (gradScale * 2.0 / d));
            if (states == Objective.HiddenStates.TEACHER) {
                teacher.forward(b, new LlamaModel.LayerHook() {
                    @Override
                    public void layer(int l, DeviceBuffer hIn, DeviceBuffer attnOut) {
                        if (gsaLayers.contains(l)) term.add(l, hIn, attnOut);
                    }

                    @Override
                    public int lastLayer() {
                        return gsaLayers.getLast();
                    }
                }, false);
            } else {
                try (GsaModel.Forward own = student.forward(b, GsaModel.Memory.RECOMPUTE, false)) {
                    DeviceBuffer target = s.t((long) n * d);
                    for (int l : gsaLayers) {
                        teacher.attentionOutput(l, b, own.hidden[l], target);
                        term.add(l, own.hidden[l], target);
                    }
                }
            }
            for (int i = 0; i < gsaLayers.size(); i++) Reduce.sumF64(gpu, sums.view(2L * i, 2), List.of(lossRows.view((long) i * n, n)), false);
            double[] values = Reduce.readDoubles(sums);
            LinkedHashMap<String, Double> out = new LinkedHashMap<>();
            out.put("loss", 0.0);
            double total = 0;
            for (int i = 0; i < gsaLayers.size(); i++) {
                out.put("mse." + gsaLayers.get(i), values[i]);
                total += values[i];
            }
            out.put("loss", total);
            return new LossSums(b.tokens, out);
        }
    }

    /** One GSA layer's term of attention transfer, from the residual entering it and its target. */
    private interface LayerTerm {
        void add(int l, DeviceBuffer hIn, DeviceBuffer attnOut);
    }

    /** Layer l's squared errors per row into {@code lossRows}, and its backward (gradient times {@code dScale}) when it trains. */
    private void transferLayer(int l, DeviceBuffer hIn, DeviceBuffer attnOut, DeviceBatch b, boolean train, ParameterGroup group,
                               DeviceBuffer lossRows, float dScale) {
        int n = b.tokens, d = student.config.hiddenSize();
        Block block = student.blocks().get(l);
        try (Buffers layer = new Buffers(gpu, student.type())) {
            DeviceBuffer x = layer.t((long) n * d);
            block.attnNorm(x, null, hIn, n);
            try (Mixer.Pass pass = block.mixer.forward(x, b, train)) {
                DeviceBuffer dy = train ? layer.t((long) n * d) : null;
                Mse.rows(gpu, lossRows, dy, pass.out(), attnOut, n, d, dScale);
                if (train) block.mixer.backward(pass, dy, null, group);
            }
        }
    }

    /** Whether the layer's mixer has a trainable tensor or an adapter. */
    private boolean layerTrains(Block block, ParameterGroup group) {
        return block.mixer.views().stream().anyMatch(v -> group.contains(v) || student.adapter(v) != null);
    }

    /**
     * {@code (1 − w)·τ²·KL(teacher ‖ student at τ) + w·CE} per position when {@code withTeacher}, else CE;
     * terms {@code loss, kl, ce} (distill, plus {@code top1} when evaluating) or {@code loss, ce}; each position's
     * loss, terms and gradient times its weight when {@code weights} (one per position) is given.
     */
    private LossSums logitLoss(DeviceBatch b, double tau, double w, boolean withTeacher, boolean backward, double gradScale,
                               float[] weights, LongConsumer finalFrom) {
        int n = b.tokens, V = student.vocabSize(), d = student.config.hiddenSize();
        double klWeight = withTeacher ? (1 - w) * tau * tau : 0;
        boolean grad = backward && (klWeight > 0 || w > 0);
        ParameterGroup group = trainable.backwardGroup();
        try (Buffers s = new Buffers(gpu, student.type())) {
            DeviceBuffer zt = withTeacher ? s.own(teacher.forwardHidden(b, null, true)) : null;
            try (GsaModel.Forward f = student.forward(b, backward ? memory : GsaModel.Memory.NONE, false)) {
                DeviceBuffer ceRows = s.f32(n), klRows = withTeacher ? s.f32(n) : null;
                DeviceBuffer agree = withTeacher && !backward ? s.f32(n) : null;
                DeviceBuffer dNormed = grad ? s.t((long) n * d) : null;
                ParameterView head = student.output();
                DeviceBuffer rowWeights = weights == null ? null : s.own(gpu.upload(weights, ElementType.F32));
                LogitLoss.run(gpu, student.type(), n, d, V, f.normed, student.w(head), grad && group.contains(head) ? student.g(head) : null,
                        zt, withTeacher ? teacher.head() : null, b.targets, (float) tau, (float) (gradScale * w), (float) (gradScale * klWeight),
                        rowWeights, new LogitLoss.Outputs(ceRows, klRows, agree, dNormed));
                DeviceBuffer sums = s.i32(6);
                Reduce.sumF64(gpu, sums.view(0, 2), List.of(ceRows), false);
                if (klRows != null) Reduce.sumF64(gpu, sums.view(2, 2), List.of(klRows), false);
                if (agree != null) Reduce.sumF64(gpu, sums.view(4, 2), List.of(agree), false);
                if (grad) student.backward(f, dNormed, group, memory == GsaModel.Memory.RECOMPUTE, finalFrom);
                double[] values = Reduce.readDoubles(sums);
                LinkedHashMap<String, Double> out = new LinkedHashMap<>();
                out.put("loss", 0.0);
                double ce = values[0], loss = w * ce;
                if (withTeacher) {
                    out.put("kl", values[1]);
                    loss += klWeight * values[1];
                }
                out.put("ce", ce);
                out.put("loss", loss);
                if (agree != null) out.put("top1", values[2]);
                return new LossSums(b.tokens, out);
            }
        }
    }

    // ------------------------------------------------------------------ optimizer

    @Override
    public double gradientNorm() {
        return optimizer.gradientNorm();
    }

    @Override
    public void optimizerStep(AdamWStep step) {
        guarded("the optimizer step", () -> {
            clipFactor.copyFrom(new float[] {(float) step.gradScale()});
            optimizer.step(step, clipFactor);
            gpu.synchronize();
            return null;
        });
    }

    // ------------------------------------------------------------------ state

    @Override
    public List<TensorSpec> stateSpecs() {
        return StateNames.specs(student.layout.views().stream().filter(student.weights::changed).toList(),
                trainable instanceof CudaTrainable.Adapters, trainable.tensors().stream().map(DeviceDataParallel.Tensor::info).toList());
    }

    @Override
    public Map<String, String> stateMetadata() {
        return StateNames.metadata(baseFingerprint());
    }

    private String baseFingerprint() {
        if (baseFingerprint == null) baseFingerprint = ModelFingerprint.ofWeightFiles(studentDir);
        return baseFingerprint;
    }

    @Override
    public void writeState(TensorWriter out) {
        if (out == null) {                      // a data-parallel rank other than 0: takes part in gathering the moments
            optimizer.writeMoments(null);
            return;
        }
        for (ParameterView v : student.layout.views()) {
            if (student.weights.changed(v)) out.write(StateNames.param(v.name()), sink -> StudentWeights.streamDevice(student.weights.master(v), sink));
        }
        if (trainable instanceof CudaTrainable.Adapters) {
            for (var t : trainable.tensors()) out.write(StateNames.lora(t.info().name()), sink -> StudentWeights.streamDevice(t.values(), sink));
        }
        optimizer.writeMoments(out);
    }

    @Override
    public void readState(SafeTensors in) {
        String saved = in.metadata().get(StateNames.BASE_FINGERPRINT);
        if (saved != null && !saved.equals(baseFingerprint())) {
            throw new T2rException(in.files().getFirst() + ": this training state was made from another student than "
                    + studentDir.path() + " (base weights sha256 " + saved.substring(0, 12) + "… vs " + baseFingerprint().substring(0, 12) + "…)");
        }
        guarded("the restored training state", () -> {
            for (String name : StateNames.params(in.tensors().keySet())) student.weights.readMaster(view(name), in, StateNames.param(name));
            if (trainable instanceof CudaTrainable.Adapters) {
                for (var t : trainable.tensors()) {
                    in.expect(StateNames.lora(t.info().name()), t.info().shape());
                    ComputeType.upload(t.values(), in, StateNames.lora(t.info().name()));
                }
                trainable.refresh();
            }
            optimizer.readMoments(in);
            return null;
        });
    }

    @Override
    public void saveStudent(Path dir, DType dtype) {
        if (trainable instanceof CudaTrainable.Adapters) throw new IllegalStateException("merge the LoRA adapters before saving the student");
        GsaCheckpoint.writeInto(student.config, dir, dtype, w -> student.weights.writeStudent(w, dtype));
    }

    // ------------------------------------------------------------------ diagnostics

    @Override
    public float[] readParameter(String name) {
        var t = trainable instanceof CudaTrainable.Adapters ? trainable.find(name) : null;
        if (t != null) return t.values().toFloatArray();
        ParameterView v = view(name);
        return student.weights.changed(v) ? student.weights.master(v).toFloatArray() : baseValues(v);
    }

    private float[] baseValues(ParameterView v) {
        return student.weights.files().floats(v.name());
    }

    @Override
    public void writeParameter(String name, float[] values) {
        var t = trainable instanceof CudaTrainable.Adapters ? trainable.find(name) : null;
        DeviceBuffer into = t != null ? t.values() : student.weights.master(view(name));
        if (values.length != into.length()) throw new IllegalArgumentException(name + ": " + values.length + " values for " + into.length());
        into.copyFrom(values);
        if (t != null) trainable.refresh();
        else student.weights.refresh(view(name));
    }

    @Override
    public float[] readGradient(String name) {
        var t = trainable.find(name);
        if (t == null) throw new IllegalArgumentException(name + " is not trainable now");
        if (dp != null) dp.awaitReduction();
        return t.grad().toFloatArray();
    }

    private ParameterView view(String name) {
        ParameterView v = student.layout.find(name);
        if (v == null) throw new IllegalArgumentException("no parameter '" + name + "' in the student " + studentDir);
        return v;
    }

    /** Device memory in use by this backend's allocator, for logs and benchmarks. */
    public Map<String, Long> memoryStats() {
        var s = gpu.allocator().stats();
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("in_use_bytes", s.inUseBytes());
        m.put("peak_in_use_bytes", s.peakInUseBytes());
        m.put("cached_bytes", s.cachedBytes());
        long[] w = student.weights.bytes();
        m.put("student_own_bytes", w[0]);
        m.put("student_shared_bytes", w[1]);
        m.put("teacher_bytes", teacher == null ? 0 : teacher.weightBytes());
        m.put("moment_bytes", optimizer.bytes());
        return m;
    }

    /** The transport of a data-parallel rank ({@code nccl} or {@code host}), else null. */
    public String dataParallelTransport() {
        return dp == null ? null : dp.transportName();
    }

    /** How many gradient buckets a step reduces (0 when not data parallel), for logs and benchmarks. */
    public int dataParallelBuckets() {
        return dp == null ? 0 : dp.plan().buckets().size();
    }

    /** The data-parallel engine of a rank of several, else null (tests). */
    DeviceDataParallel dataParallel() {
        return dp;
    }

    /** The engine, for benchmarks (timing with events on its stream). */
    public Gpu gpu() {
        return gpu;
    }

    @Override
    public void close() {
        try {
            optimizer.close();
            if (trainable instanceof CudaTrainable.Adapters a) a.lora.close();
            clipFactor.close();
            student.close();
            if (teacher != null) teacher.close();
        } finally {
            gpu.close();
        }
    }
}
