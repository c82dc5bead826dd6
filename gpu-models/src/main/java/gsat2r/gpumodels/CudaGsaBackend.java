package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.model.gsa.GsaCheckpoint;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorSpec;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendOutOfMemoryException;
import gsat2r.training.BackendRequest;
import gsat2r.training.DataParallelBackend;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.TrainingBackend;
import gsat2r.training.distributed.BucketSchedule;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Cuda;
import gsat2r.gpu.cuda.CudaContext;
import gsat2r.gpu.cuda.CudaException;
import gsat2r.gpu.ops.AdamW;
import gsat2r.gpu.ops.Agreement;
import gsat2r.gpu.ops.CrossEntropy;
import gsat2r.gpu.ops.Elementwise;
import gsat2r.gpu.ops.KlDivergence;
import gsat2r.gpu.ops.Mse;
import gsat2r.gpu.ops.Reduce;
import gsat2r.gpu.nccl.Nccl;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

/**
 * The {@link TrainingBackend} of GSA students on an NVIDIA GPU (device {@code cuda}): the frozen teacher
 * ({@link TeacherGpu}, Llama or Mistral) and the student ({@link StudentGpu}) resident on the device, fp32
 * master weights in one buffer in the student's layout, compute copies in the {@link Precision}'s type,
 * fp32 gradients and AdamW moments beside them. Nothing but token ids goes in and a few sums come out.
 *
 * <p>The objectives, exactly as {@link Objective} defines them and {@code CpuGsaBackend} computes them:
 * <ul>
 * <li>attention transfer: the teacher runs layer by layer; after its layer l's attention, the student's
 *     GSA layer l runs on {@code attn_norm_l(h_l)} (the teacher's residual, the student's norm), its MSE
 *     against the teacher's attention output is taken and its backward run at once (no full student
 *     forward, and one layer's activations at a time);</li>
 * <li>distill: the teacher's and the student's logits, {@code (1 − w)·τ²·KL + w·CE} fused with their
 *     gradients ({@code kl_div}, {@code cross_entropy} kernels), then the student's backward;</li>
 * <li>finetune: cross-entropy alone.</li>
 * </ul>
 *
 * <p>Deterministic: no kernel on the training path uses atomics (the embedding and norm weight
 * gradients use the ordered reductions of {@code train.cu}; attention and GSA backward have none;
 * cuBLASLt runs a fixed algorithm per shape), and every sum is fp64 in a fixed order: the same calls on a
 * fresh backend give the same bits. The training state uses exactly the CPU backend's tensor names
 * ({@code param/}, {@code lora/}, {@code adam_m/}, {@code adam_v/}), so a run may resume on another device.
 *
 * <p>Data parallel ({@link DataParallelBackend}, docs/distributed.md): after {@link #joinDataParallel} a
 * {@link DeviceDataParallel} sums the gradients across ranks, bucket by bucket while the last micro-batch's
 * backward runs (NCCL on a communication stream, or through the host where NCCL cannot be used:
 * {@link TransportSelection}), and shards the AdamW moments across the ranks (ZeRO stage 1).
 */
public final class CudaGsaBackend implements DataParallelBackend {

    private final Gpu gpu;
    private final Precision precision;
    private final TeacherGpu teacher;          // null when the run does not need it
    private final StudentGpu student;
    private final StudentGpu.Memory memory;
    private final Path studentDir;
    private final String deviceName;

    private ParameterGroup group = new ParameterGroup("none", List.of());
    private final List<ParameterInfo> trainable = new ArrayList<>();
    /** Contiguous runs of trainable tensors with the same decay, for the optimizer and the norm. */
    private final List<Run> runs = new ArrayList<>();
    private DeviceBuffer momentM, momentV;     // full-size AdamW moments (non-LoRA sets)
    private LoraGpu lora;
    private final DeviceBuffer clipFactor, norm;
    /** Set by {@link #joinDataParallel}: the gradient reduction and the sharded optimizer (then {@code momentM/V} stay null). */
    private DeviceDataParallel dp;
    /** Buffer offsets of the trainable tensors, ascending: maps the backward's "final from offset x" to tensor indices. */
    private long[] trainableOffsets = new long[0];

    /** {@code [offset, offset + size)} of the flat buffers, with decay λ applied or not. */
    private record Run(long offset, long size, boolean decays) {}

    private CudaGsaBackend(Gpu gpu, Precision precision, TeacherGpu teacher, StudentGpu student, StudentGpu.Memory memory,
                           Path studentDir) {
        this.gpu = gpu;
        this.precision = precision;
        this.teacher = teacher;
        this.student = student;
        this.memory = memory;
        this.studentDir = studentDir;
        this.deviceName = "cuda:" + gpu.info().ordinal();
        this.clipFactor = gpu.f32(1);
        this.norm = gpu.i32(2);
    }

    /** Opens the GPU, loads the student (and the teacher when needed) and plans the micro-batch's memory. */
    public static CudaGsaBackend open(BackendRequest r, Precision precision) {
        GsaModel host = GsaModel.load(r.student());
        LlamaConfig teacherConfig = null;
        if (r.needsTeacher()) {
            teacherConfig = LlamaConfig.load(r.teacher());
            checkPair(teacherConfig, r.teacher(), host.config(), r.student());
            TeacherGpu.checkSupported(teacherConfig, r.teacher());
        }
        StudentGpu.checkSupported(host.config(), r.student().resolve(GsaConfig.FILE_NAME));
        Gpu gpu = Gpu.open(deviceOrdinal(r.deviceIndex()));
        TeacherGpu teacher = null;
        StudentGpu student = null;
        try {
            ElementType t = precision.type();
            student = new StudentGpu(gpu, host, t, r.student().resolve(GsaConfig.FILE_NAME));
            if (r.needsTeacher()) teacher = TeacherGpu.load(gpu, r.teacher(), t);
            CudaGsaBackend b = new CudaGsaBackend(gpu, precision, teacher, student,
                    r.recompute() ? StudentGpu.Memory.RECOMPUTE : StudentGpu.Memory.KEEP, r.student());
            b.planMemory(r.microBatch(), r.sequenceLength(), r.recompute());
            return b;
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

    private static void closeQuietly(TeacherGpu teacher, StudentGpu student, Gpu gpu) {
        try {
            if (teacher != null) teacher.close();
            if (student != null) student.close();
        } finally {
            gpu.close();
        }
    }

    static void checkPair(LlamaConfig t, Path teacherDir, GsaConfig s, Path studentDir) {
        String problem = null;
        if (t.vocabSize() != s.vocabSize()) problem = "vocabulary " + s.vocabSize() + " vs the teacher's " + t.vocabSize();
        else if (t.hiddenSize() != s.hiddenSize()) problem = "hidden size " + s.hiddenSize() + " vs the teacher's " + t.hiddenSize();
        else if (t.numHiddenLayers() != s.numHiddenLayers()) {
            problem = s.numHiddenLayers() + " layers vs the teacher's " + t.numHiddenLayers();
        }
        if (problem != null) {
            throw new T2rException(studentDir.resolve("config.json") + ": this student does not fit the teacher "
                    + teacherDir + " (" + problem + ")");
        }
    }

    // ------------------------------------------------------------------ memory plan

    /**
     * Bytes of activations one micro-batch of {@code batch × seqLen} tokens needs at its peak (the student's
     * kept activations, logits and their gradient, the teacher's logits and its per-layer scratch, the
     * largest backward scratch), from the model's sizes.
     */
    long activationBytes(int batch, int seqLen, boolean recompute) {
        GsaConfig c = student.config;
        long n = (long) batch * seqLen, e = precision.type().bytes();
        int d = c.hiddenSize(), I = c.intermediateSize(), V = c.vocabSize();
        long perGsaLayer = n * e * (4L * d + 2L * c.keyDim() + 2L * c.kvKeyDim() + 2L * c.kvValueDim()
                + 3L * c.numKvHeads() * c.numSlots() + 2L * c.valueDim() + 3L * I)
                + n * 4L * (2L * c.numHeads() * c.numSlots() + 3)
                + (long) batch * c.numKvHeads() * (Math.ceilDiv(seqLen, 64) + 1L) * (c.headKDim() + c.headVDim()) * c.numSlots() * e;
        long perLayerKept = recompute ? n * d * e : perGsaLayer;
        long student = c.numHiddenLayers() * perLayerKept + perGsaLayer + 2 * n * d * e;
        long logits = 3 * n * V * e;                                     // student logits, teacher logits, CE scratch
        long teacherScratch = teacher == null ? 0 : n * e * (4L * d + 2L * teacher.config.queryDim() + 2L * teacher.config.keyValueDim() + 2L * I);
        long backwardScratch = n * e * (3L * d + 2L * I + 2L * c.keyDim() + 2L * c.kvKeyDim() + c.kvValueDim());
        return student + logits + Math.max(teacherScratch, backwardScratch);
    }

    private void planMemory(int batch, int seqLen, boolean recompute) {
        long need = activationBytes(batch, seqLen, recompute);
        CudaContext.MemoryInfo mem = gpu.context().memoryInfo();
        if (need > mem.free()) {
            throw new BackendOutOfMemoryException(deviceName, "the activations of a micro-batch of " + batch + " x " + seqLen
                    + " tokens (planned" + (recompute ? ", with recompute" : "") + ")", need, mem.free(), mem.total(), null);
        }
    }

    private static BackendOutOfMemoryException oom(Gpu gpu, String device, String what, long requested, CudaException e) {
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

    /** The precision this backend computes in. */
    public Precision precision() {
        return precision;
    }

    @Override
    public String description() {
        return deviceName + " " + gpu.info().name() + " (" + precision + " compute, fp32 master weights and optimizer state)";
    }

    @Override
    public int vocabSize() {
        return student.vocabSize();
    }

    @Override
    public List<ParameterInfo> parameters() {
        List<ParameterInfo> out = new ArrayList<>();
        for (ParameterView v : student.layout.views()) out.add(new ParameterInfo(v.name(), v.shape()));
        return out;
    }

    // ------------------------------------------------------------------ trainable sets

    @Override
    public List<ParameterInfo> setTrainable(TrainableSet set, long seed) {
        if (lora != null) throw new IllegalStateException("merge the LoRA adapters of the previous stage first");
        trainable.clear();
        runs.clear();
        student.grad.zero();
        switch (set) {
            case TrainableSet.Lora l -> {
                lora = guarded("LoRA adapters", () -> new LoraGpu(student, l.rank(), l.scale(), seed));
                group = lora.targets();
                trainable.addAll(lora.infos());
                runs.add(new Run(0, lora.values.length(), true));
                if (dp != null) {
                    trainableOffsets = new long[0];          // adapters' gradients are final only after collectGradients
                    guarded("the data-parallel buffers", () -> {
                        dp.setTrainable(lora.infos().stream().map(p -> new DeviceDataParallel.Tensor(p, lora.factor(lora.values, p.name()), null,
                                lora.factor(lora.grads, p.name()))).toList());
                        return null;
                    });
                }
                return List.copyOf(trainable);
            }
            case TrainableSet.Gates x -> group = student.layout.group("gates");
            case TrainableSet.Attention x -> group = student.layout.group("attention");
            case TrainableSet.All x -> group = student.layout.group("all");
        }
        if (dp == null) {
            if (momentM == null) {
                momentM = guarded("the AdamW moments", () -> gpu.f32(student.master.length()));
                momentV = guarded("the AdamW moments", () -> gpu.f32(student.master.length()));
            }
            momentM.zero();
            momentV.zero();
        }
        for (ParameterView v : group.views()) {
            ParameterInfo info = new ParameterInfo(v.name(), v.shape());
            trainable.add(info);
            boolean decays = AdamWStep.decays(info);
            Run last = runs.isEmpty() ? null : runs.getLast();
            if (last != null && last.decays() == decays && last.offset() + last.size() == v.offset()) {
                runs.set(runs.size() - 1, new Run(last.offset(), last.size() + v.size(), decays));
            } else {
                runs.add(new Run(v.offset(), v.size(), decays));
            }
        }
        if (dp != null) {
            List<ParameterView> views = group.views();
            trainableOffsets = views.stream().mapToLong(ParameterView::offset).toArray();
            for (int i = 1; i < trainableOffsets.length; i++) {
                if (trainableOffsets[i] <= trainableOffsets[i - 1]) throw new IllegalStateException("trainable tensors out of buffer order");
            }
            guarded("the data-parallel buffers", () -> {
                dp.setTrainable(views.stream().map(v -> new DeviceDataParallel.Tensor(new ParameterInfo(v.name(), v.shape()),
                        student.masterView(v), student.work == student.master ? null : student.w(v), student.g(v))).toList());
                return null;
            });
        }
        return List.copyOf(trainable);
    }

    // ------------------------------------------------------------------ data parallel

    @Override
    public void joinDataParallel(ProcessGroup processGroup, DataParallelOptions options) {
        joinDataParallel(processGroup, options, TransportSelection.configured());
    }

    /** {@link #joinDataParallel(ProcessGroup, DataParallelOptions)} with the transport request given (tests, benchmarks). */
    public void joinDataParallel(ProcessGroup processGroup, DataParallelOptions options, TransportSelection.Request request) {
        if (dp != null) throw new IllegalStateException("already a rank of a data-parallel group");
        if (!trainable.isEmpty() || lora != null) throw new IllegalStateException("join the data-parallel group before setTrainable");
        TransportSelection.RankDevice me = new TransportSelection.RankDevice(processGroup.rank(), hostName(), gpu.context().pciAddress(),
                Nccl.available() ? null : Nccl.unavailableReason());
        TransportSelection.Decision decision = TransportSelection.decide(request,
                TransportSelection.decodeAll(processGroup.allGather(me.encode())));
        if (decision.note() != null && processGroup.rank() == 0) System.err.println("note: " + decision.note());
        GradientTransport transport = decision.kind() == TransportSelection.Kind.NCCL
                ? NcclTransport.join(gpu, processGroup) : new HostTransport(processGroup);
        dp = new DeviceDataParallel(gpu, processGroup, options, transport);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";      // one machine's ranks still agree with each other
        }
    }

    /** {@code nccl} or {@code host} after {@link #joinDataParallel}, else null. */
    public String dataParallelTransport() {
        return dp == null ? null : dp.transportName();
    }

    /** How many gradient buckets a step reduces (0 when not data parallel), for logs and benchmarks. */
    public int dataParallelBuckets() {
        return dp == null ? 0 : dp.plan().buckets().size();
    }

    /** The data-parallel engine after {@link #joinDataParallel}, else null (tests). */
    DeviceDataParallel dataParallel() {
        return dp;
    }

    @Override
    public LossSums forwardBackwardAndReduce(Objective objective, TokenBatch batch, double gradScale) {
        if (dp == null) throw new IllegalStateException("not a rank of a data-parallel group: joinDataParallel first");
        DeviceDataParallel.Reduction reduction = dp.startReduction();
        IntConsumer finalFrom = lora != null ? from -> {} : from -> reduction.gradientsFinalFrom(BucketSchedule.firstTensorAtOrAbove(trainableOffsets, from));
        LossSums sums = guarded("a training step on " + batch.sequences() + " x " + batch.length() + " tokens", () -> {
            LossSums out = run(objective, batch, true, gradScale, finalFrom);
            if (lora != null) lora.collectGradients();
            return out;
        });
        reduction.finishBackward();
        return sums;
    }

    // ------------------------------------------------------------------ objectives

    @Override
    public LossSums forwardBackward(Objective objective, TokenBatch batch, double gradScale) {
        return guarded("a training step on " + batch.sequences() + " x " + batch.length() + " tokens", () -> {
            LossSums sums = run(objective, batch, true, gradScale, from -> {});
            if (lora != null) lora.collectGradients();
            return sums;
        });
    }

    @Override
    public LossSums evaluate(Objective objective, TokenBatch batch) {
        return guarded("an evaluation on " + batch.sequences() + " x " + batch.length() + " tokens",
                () -> run(objective, batch, false, 0, from -> {}));
    }

    /** {@code gradientsFinalFrom}: told during the backward which gradients are final (see {@link StudentGpu#backward}). */
    private LossSums run(Objective objective, TokenBatch batch, boolean backward, double gradScale, IntConsumer gradientsFinalFrom) {
        if (objective.needsTeacher() && teacher == null) {
            throw new IllegalStateException("the backend was opened without the teacher, which " + objective.type() + " needs");
        }
        if (lora != null) lora.materialize();
        try (DeviceBatch b = DeviceBatch.of(gpu, batch, student.vocabSize())) {
            return switch (objective) {
                case Objective.AttentionTransfer at -> attentionTransfer(b, backward, gradScale);
                case Objective.Distill d -> logitLoss(b, d.temperature(), d.ceWeight(), true, backward, gradScale, gradientsFinalFrom);
                case Objective.LanguageModeling lm -> logitLoss(b, 1, 1, false, backward, gradScale, gradientsFinalFrom);
            };
        }
    }

    /** Per GSA layer l: {@code Σ_p mean_j (y_l(p)_j − a_l(p)_j)²} with {@code y_l = layer_l(attn_norm_l(h_l))}. */
    private LossSums attentionTransfer(DeviceBatch b, boolean backward, double gradScale) {
        GsaConfig c = student.config;
        if (backward) {
            for (ParameterView v : group.views()) {
                if (v.layer() < 0 || !c.isGsaLayer(v.layer()) || !isMixerTensor(v)) {
                    throw new IllegalStateException("attention transfer trains GSA-layer tensors only, not " + v.name());
                }
            }
        }
        int n = b.tokens, d = c.hiddenSize(), L = c.numHiddenLayers();
        List<Integer> gsaLayers = new ArrayList<>();
        for (int l = 0; l < L; l++) if (c.isGsaLayer(l)) gsaLayers.add(l);
        if (gsaLayers.isEmpty()) throw new IllegalStateException("attention transfer needs a GSA layer; this student has none");
        try (Buffers s = new Buffers(gpu, precision.type())) {
            DeviceBuffer lossRows = s.f32((long) n * gsaLayers.size());
            DeviceBuffer sums = s.i32(2L * (gsaLayers.size() + 1));
            float dScale = (float) (gradScale * 2.0 / d);
            teacher.forward(b, new TeacherGpu.LayerHook() {
                @Override
                public void layer(int l, DeviceBuffer hIn, DeviceBuffer attnOut) {
                    int slot = gsaLayers.indexOf(l);
                    if (slot < 0) return;
                    BlockGpu block = student.blocks().get(l);
                    boolean train = backward && layerHasTrainable(l);
                    try (Buffers layer = new Buffers(gpu, precision.type())) {
                        DeviceBuffer x = layer.t((long) n * d);
                        block.attnNorm(x, null, hIn, n);
                        try (MixerGpu.Pass pass = block.mixer.forward(x, b, train)) {
                            DeviceBuffer dy = train ? layer.t((long) n * d) : null;
                            Mse.rows(gpu, lossRows.view((long) slot * n, n), dy, pass.out(), attnOut, n, d, dScale);
                            if (train) block.mixer.backward(pass, dy, null, group);
                        }
                    }
                }

                @Override
                public int lastLayer() {
                    return gsaLayers.getLast();
                }
            }, false);
            for (int i = 0; i < gsaLayers.size(); i++) {
                Reduce.sumF64(gpu, sums.view(2L * i, 2), List.of(lossRows.view((long) i * n, n)), false);
            }
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

    private boolean layerHasTrainable(int layer) {
        for (ParameterView v : group.views()) if (v.layer() == layer) return true;
        return false;
    }

    private static boolean isMixerTensor(ParameterView v) {
        return switch (v.kind()) {
            case Q_PROJ, K_PROJ, V_PROJ, Q_BIAS, K_BIAS, V_BIAS, F_PROJ, G_NORM, O_PROJ -> true;
            default -> false;
        };
    }

    /**
     * {@code (1 − w)·τ²·KL(teacher ‖ student at τ) + w·CE} per position when {@code withTeacher}, else CE;
     * terms {@code loss, kl, ce} (distill, plus {@code top1} when evaluating) or {@code loss, ce}. The
     * gradient kernels write into the student's logits in place, so the op that reads them last writes
     * there, and the other (when both have gradients) into a scratch added afterwards.
     */
    private LossSums logitLoss(DeviceBatch b, double tau, double w, boolean withTeacher, boolean backward, double gradScale,
                               IntConsumer gradientsFinalFrom) {
        int n = b.tokens, V = student.vocabSize();
        double klWeight = withTeacher ? (1 - w) * tau * tau : 0;
        boolean klGrad = backward && klWeight > 0, ceGrad = backward && w > 0;
        try (Buffers s = new Buffers(gpu, precision.type())) {
            DeviceBuffer zt = withTeacher ? s.own(teacher.forward(b, null, true)) : null;
            try (StudentGpu.Forward f = student.forward(b, backward ? memory : StudentGpu.Memory.NONE)) {
                DeviceBuffer zs = f.logits;
                DeviceBuffer ceRows = s.f32(n), klRows = withTeacher ? s.f32(n) : null;
                DeviceBuffer agree = withTeacher && !backward ? s.f32(n) : null;
                if (agree != null) Agreement.top1(gpu, agree, zs, zt, n, V);
                if (klGrad) {
                    DeviceBuffer dce = ceGrad ? s.t((long) n * V) : null;
                    CrossEntropy.forwardBackward(gpu, ceRows, dce, zs, b.targets, n, V, (float) (gradScale * w));
                    KlDivergence.forwardBackward(gpu, klRows, zs, zs, zt, null, n, V, (float) tau, (float) (gradScale * klWeight));
                    if (dce != null) Elementwise.add(gpu, zs, zs, dce, (long) n * V);
                } else {
                    if (withTeacher) KlDivergence.forwardBackward(gpu, klRows, null, zs, zt, null, n, V, (float) tau, 0f);
                    CrossEntropy.forwardBackward(gpu, ceRows, ceGrad ? zs : null, zs, b.targets, n, V, (float) (gradScale * w));
                }
                // the losses' sums, then (queued behind them) the backward
                DeviceBuffer sums = s.i32(6);
                Reduce.sumF64(gpu, sums.view(0, 2), List.of(ceRows), false);
                if (klRows != null) Reduce.sumF64(gpu, sums.view(2, 2), List.of(klRows), false);
                if (agree != null) Reduce.sumF64(gpu, sums.view(4, 2), List.of(agree), false);
                if (backward && (klGrad || ceGrad)) student.backward(f, zs, group, memory == StudentGpu.Memory.RECOMPUTE, gradientsFinalFrom);
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
        if (dp != null) dp.awaitReduction();            // every rank now holds the summed gradients: the same norm everywhere
        if (runs.isEmpty()) return 0;
        DeviceBuffer grads = lora != null ? lora.grads : student.grad;
        List<DeviceBuffer> parts = new ArrayList<>();
        for (Run r : runs) parts.add(grads.view(r.offset(), r.size()));
        Reduce.sumF64(gpu, norm, parts, true);
        return Math.sqrt(Reduce.readDoubles(norm)[0]);
    }

    @Override
    public void optimizerStep(AdamWStep step) {
        guarded("the optimizer step", () -> {
            clipFactor.copyFrom(new float[] {(float) step.gradScale()});
            if (dp != null) {
                dp.awaitReduction();
                dp.optimizerStep(step, clipFactor);
                (lora != null ? lora.grads : student.grad).zero();
                if (lora != null) lora.invalidate();
                gpu.synchronize();
                return null;
            }
            boolean isLora = lora != null;
            DeviceBuffer p = isLora ? lora.values : student.master, g = isLora ? lora.grads : student.grad;
            DeviceBuffer m = isLora ? lora.m : momentM, v = isLora ? lora.v : momentV;
            DeviceBuffer copy = !isLora && student.work != student.master ? student.work : null;
            for (Run r : runs) {
                AdamW.Hyper h = new AdamW.Hyper((float) step.lr(), (float) step.beta1(), (float) step.beta2(), (float) step.eps(),
                        r.decays() ? (float) step.weightDecay() : 0f);
                AdamW.step(gpu, h, step.step(), p.view(r.offset(), r.size()), copy == null ? null : copy.view(r.offset(), r.size()),
                        g.view(r.offset(), r.size()), m.view(r.offset(), r.size()), v.view(r.offset(), r.size()), clipFactor);
            }
            g.zero();
            if (isLora) lora.invalidate();
            gpu.synchronize();
            return null;
        });
    }

    @Override
    public void mergeLora() {
        if (lora == null) return;
        lora.materialize();
        lora.close();
        lora = null;
        trainable.clear();
        runs.clear();
        group = new ParameterGroup("none", List.of());
        student.grad.zero();
        trainableOffsets = new long[0];
        if (dp != null) dp.clear();
    }

    // ------------------------------------------------------------------ state

    @Override
    public List<TensorSpec> stateSpecs() {
        List<TensorSpec> specs = new ArrayList<>();
        for (ParameterView v : student.layout.views()) specs.add(TensorSpec.of("param/" + v.name(), DType.F32, v.shape()));
        if (lora != null) {
            for (ParameterInfo p : lora.infos()) specs.add(TensorSpec.of("lora/" + p.name(), DType.F32, p.shape()));
        }
        for (ParameterInfo p : trainable) {
            specs.add(TensorSpec.of("adam_m/" + p.name(), DType.F32, p.shape()));
            specs.add(TensorSpec.of("adam_v/" + p.name(), DType.F32, p.shape()));
        }
        return specs;
    }

    @Override
    public void writeState(TensorWriter out) {
        if (dp != null && out == null) {                // a data-parallel rank other than 0: takes part in gathering the moments
            dp.writeMoments(null);
            return;
        }
        for (ParameterView v : student.layout.views()) {
            LoraGpu.Adapter ad = lora == null ? null : lora.adapterOf(v.name());
            float[] values = (ad != null ? ad.base : student.masterView(v)).toFloatArray();   // the base weight, not W + s·BA
            out.write("param/" + v.name(), values);
        }
        if (lora != null) for (ParameterInfo p : lora.infos()) out.write("lora/" + p.name(), lora.factor(lora.values, p.name()).toFloatArray());
        if (dp != null) {
            dp.writeMoments(out);
            return;
        }
        for (ParameterInfo p : trainable) {
            out.write("adam_m/" + p.name(), moment(true, p.name()).toFloatArray());
            out.write("adam_v/" + p.name(), moment(false, p.name()).toFloatArray());
        }
    }

    @Override
    public void readState(SafeTensors in) {
        for (ParameterView v : student.layout.views()) {
            LoraGpu.Adapter ad = lora == null ? null : lora.adapterOf(v.name());
            read(in, "param/" + v.name(), v.shape(), ad != null ? ad.base : student.masterView(v));
        }
        if (lora != null) {
            for (ParameterInfo p : lora.infos()) read(in, "lora/" + p.name(), p.shape(), lora.factor(lora.values, p.name()));
            lora.invalidate();
        }
        if (dp != null) {
            dp.readMoments(in);                        // this rank's shard of the whole state's moments
        } else {
            for (ParameterInfo p : trainable) {
                read(in, "adam_m/" + p.name(), p.shape(), moment(true, p.name()));
                read(in, "adam_v/" + p.name(), p.shape(), moment(false, p.name()));
            }
        }
        student.refreshWork();
    }

    private static void read(SafeTensors in, String name, long[] shape, DeviceBuffer into) {
        in.expect(name, shape);
        into.copyFrom(in.floats(name));
    }

    /** The AdamW moment of a trainable tensor (or adapter factor). */
    private DeviceBuffer moment(boolean first, String name) {
        if (lora != null) return lora.factor(first ? lora.m : lora.v, name);
        ParameterView v = view(name);
        return (first ? momentM : momentV).view(v.offset(), v.size());
    }

    @Override
    public void saveStudent(Path dir) {
        if (lora != null) throw new IllegalStateException("merge the LoRA adapters before saving the student");
        student.syncHost();
        GsaCheckpoint.writeInto(student.host, dir, DType.F32);
    }

    // ------------------------------------------------------------------ diagnostics

    @Override
    public float[] readParameter(String name) {
        if (lora != null) {
            DeviceBuffer f = lora.factor(lora.values, name);
            if (f != null) return f.toFloatArray();
            LoraGpu.Adapter ad = lora.adapterOf(name);
            if (ad != null) return ad.base.toFloatArray();
        }
        return student.masterView(view(name)).toFloatArray();
    }

    @Override
    public void writeParameter(String name, float[] values) {
        if (lora != null) {
            DeviceBuffer f = lora.factor(lora.values, name);
            LoraGpu.Adapter ad = lora.adapterOf(name);
            if (f != null || ad != null) {
                DeviceBuffer into = f != null ? f : ad.base;
                if (values.length != into.length()) throw new IllegalArgumentException(name + ": " + values.length + " values for " + into.length());
                into.copyFrom(values);
                lora.invalidate();
                return;
            }
        }
        ParameterView v = view(name);
        if (values.length != v.size()) throw new IllegalArgumentException(name + ": " + values.length + " values for " + v.size());
        student.masterView(v).copyFrom(values);
        student.refreshWork(v);
    }

    @Override
    public float[] readGradient(String name) {
        boolean known = trainable.stream().anyMatch(p -> p.name().equals(name));
        if (!known) throw new IllegalArgumentException(name + " is not trainable now");
        if (lora != null) return lora.factor(lora.grads, name).toFloatArray();
        return student.g(view(name)).toFloatArray();
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
        return m;
    }

    /** The engine, for benchmarks (timing with events on its stream). */
    public Gpu gpu() {
        return gpu;
    }

    @Override
    public void close() {
        try {
            if (dp != null) dp.close();
            if (lora != null) lora.close();
            if (momentM != null) momentM.close();
            if (momentV != null) momentV.close();
            clipFactor.close();
            norm.close();
            if (teacher != null) teacher.close();
            student.close();
        } finally {
            gpu.close();
        }
    }
}
