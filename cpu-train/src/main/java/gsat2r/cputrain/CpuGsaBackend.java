package gsat2r.cputrain;

import gsat2r.core.T2rException;
import gsat2r.core.cpu.LogitLosses;
import gsat2r.core.cpu.Parallel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.ModelFingerprint;
import gsat2r.core.model.gsa.GsaCheckpoint;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.Mixer;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorSpec;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendRequest;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.StateNames;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.TrainingBackend;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * The {@link TrainingBackend} of GSA students on the CPU, in fp32: the frozen teacher is a
 * {@link LlamaModel} (Llama or Mistral), the student a {@link GsaModel} whose one parameter array holds
 * the fp32 weights and whose gradient array accumulates over micro-batches.
 *
 * <p>The objectives, exactly as {@link Objective} defines them:
 * <ul>
 * <li>attention transfer: the teacher's {@code trace} gives, per layer l, the residual stream
 *     {@code h_l} entering it and its attention output {@code a_l} (after o_proj); every GSA layer runs
 *     alone on {@code attn_norm_l(h_l)} (the student's attn_norm, which conversion copies from the
 *     teacher's input_layernorm) and its output is compared with {@code a_l}; layers kept as softmax
 *     attention have no term. Each layer's backward stops at its own input, so a layer's parameters get
 *     gradient from its own term only. On the student's hidden states, {@code h_l} comes from the student's
 *     own forward pass and {@code a_l} from {@link LlamaModel#attentionOutput} on it.</li>
 * <li>distill: {@code (1 − w)·τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) + w·CE(z_S)} on the teacher's
 *     and the student's logits of the same batch, through {@link LogitLosses}.</li>
 * <li>finetune: the student's next-token cross-entropy.</li>
 * </ul>
 * Upstream gradients are multiplied by {@code gradScale} before the backward, which then adds straight
 * into the gradient array. What trains is a {@link CpuTrainable} (whole tensors or LoRA adapters,
 * {@link LoraAdapters}); how it is updated a {@link CpuOptimizer} (whole moments here, or sharded across
 * the ranks of a data-parallel group by {@link HostDataParallel}, which also sums the gradients during
 * the last micro-batch's backward).
 *
 * <p>Training state ({@link StateNames}): the tensors some stage has trained (in fp32), the adapters and
 * the moments; the rest is the student the backend was opened on, whose fingerprint the state carries.
 *
 * <p>Determinism: every op of {@code gsat2r.core.cpu} and {@code gsat2r.core.gsa} splits its work by
 * output elements only and sums in a fixed order, and every sum here is sequential in double: the same
 * calls give the same bits whatever the number of threads.
 */
public final class CpuGsaBackend implements TrainingBackend {

    private final LlamaModel teacher;           // null when the run does not need it
    private final GsaModel student;
    private final ModelDirectory studentDir;
    private final GsaModel.Memory memory;
    private final CpuOptimizer optimizer;
    private final HostDataParallel dp;           // the sharded optimizer's engine, or null for one process
    private CpuTrainable trainable = new CpuTrainable.Nothing();
    /** Student tensors that some stage has trained (or a LoRA merge changed): what the state holds, in layout order. */
    private final Set<String> changed = new LinkedHashSet<>();
    private String baseFingerprint;

    private CpuGsaBackend(LlamaModel teacher, GsaModel student, ModelDirectory studentDir, GsaModel.Memory memory, HostDataParallel dp) {
        this.teacher = teacher;
        this.student = student;
        this.studentDir = studentDir;
        this.memory = memory;
        this.dp = dp;
        this.optimizer = dp == null ? new CpuOptimizer.Local() : new CpuOptimizer.Sharded(dp);
    }

    /** Loads the teacher (when needed) and the student of {@code r}, and checks that they fit together. */
    public static CpuGsaBackend open(BackendRequest r) {
        GsaModel student = GsaModel.load(r.student());
        LlamaModel teacher = null;
        if (r.needsTeacher()) {
            r.requireMatchingPair();
            teacher = LlamaModel.load(r.teacher(), null);
        }
        HostDataParallel dp = r.dataParallel() ? new HostDataParallel(r.group(), r.parallel()) : null;
        return new CpuGsaBackend(teacher, student, r.student(), r.recompute() ? GsaModel.Memory.RECOMPUTE : GsaModel.Memory.KEEP, dp);
    }

    /** The student model (its live parameter array), for tests and tools. */
    public GsaModel student() {
        return student;
    }

    /** The data-parallel engine of a rank of several, else null (for tests). */
    public HostDataParallel dataParallel() {
        return dp;
    }

    @Override
    public String description() {
        return "cpu (fp32, " + Parallel.threads() + " threads)";
    }

    @Override
    public int vocabSize() {
        return student.vocabSize();
    }

    @Override
    public List<ParameterInfo> parameters() {
        return student.layout().views().stream().map(v -> new ParameterInfo(v.name(), v.shape())).toList();
    }

    // ------------------------------------------------------------------ trainable sets

    @Override
    public List<ParameterInfo> setTrainable(TrainableSet set, long seed) {
        if (trainable instanceof CpuTrainable.Adapters) throw new IllegalStateException("merge the LoRA adapters of the previous stage first");
        student.zeroGradients();
        trainable = CpuTrainable.of(set, student, seed);
        if (!(trainable instanceof CpuTrainable.Adapters)) trainable.tensors().forEach(t -> changed.add(t.info().name()));
        optimizer.setTrainable(trainable.tensors());
        return trainable.tensors().stream().map(CpuTensor::info).toList();
    }

    @Override
    public void mergeLora() {
        if (!(trainable instanceof CpuTrainable.Adapters a)) return;
        a.lora.merge();
        a.lora.targets().views().forEach(v -> changed.add(v.name()));
        trainable = new CpuTrainable.Nothing();
        student.zeroGradients();
        optimizer.setTrainable(List.of());
    }

    @Override
    public Map<String, float[]> loraFactors() {
        return trainable instanceof CpuTrainable.Adapters a ? a.factors() : Map.of();
    }

    // ------------------------------------------------------------------ objectives

    @Override
    public LossSums forwardBackward(Objective objective, TokenBatch batch, double gradScale, boolean lastOfStep) {
        HostDataParallel.Reduction reduction = lastOfStep && dp != null ? dp.startReduction() : null;
        // Under LoRA the adapters' gradients are final only after afterBackward, so the buckets go at the end.
        IntConsumer finalFrom = reduction == null || trainable instanceof CpuTrainable.Adapters ? from -> {}
                : from -> reduction.gradientsFinalFrom(firstTensorAtOrAbove(from));
        LossSums sums = run(objective, batch, true, gradScale, finalFrom);
        trainable.afterBackward();
        if (reduction != null) reduction.finishBackward();
        return sums;
    }

    @Override
    public LossSums evaluate(Objective objective, TokenBatch batch) {
        return run(objective, batch, false, 0, from -> {});
    }

    /** The index of the first trainable tensor at or above parameter-array offset {@code offset} (tensors follow the array's order). */
    private int firstTensorAtOrAbove(int offset) {
        List<CpuTensor> ts = trainable.tensors();
        int i = ts.size();
        while (i > 0 && ts.get(i - 1).offset() >= offset) i--;
        return i;
    }

    private LossSums run(Objective objective, TokenBatch batch, boolean backward, double gradScale, IntConsumer finalFrom) {
        if (objective.needsTeacher() && teacher == null) {
            throw new IllegalStateException("the backend was opened without the teacher, which " + objective.type() + " needs");
        }
        trainable.beforeForward();
        return switch (objective) {
            case Objective.AttentionTransfer at -> attentionTransfer(at.states(), batch, backward, gradScale);
            case Objective.Distill d -> logitLoss(batch, d.temperature(), d.ceWeight(), true, backward, gradScale,
                    backward ? d.positionWeights(batch) : null, finalFrom);
            case Objective.LanguageModeling lm -> logitLoss(batch, 1, 1, false, backward, gradScale, null, finalFrom);
        };
    }

    /**
     * Per GSA layer l: {@code Σ_p mean_j (y_l(p)_j − a_l(p)_j)²} with {@code y_l = layer_l(attn_norm_l(h_l))}, {@code h_l}
     * and {@code a_l} the teacher's (its residual and attention output) or, on the student's states, the student's
     * residual and the teacher's layer-l attention on it.
     */
    private LossSums attentionTransfer(Objective.HiddenStates states, TokenBatch batch, boolean backward, double gradScale) {
        ParameterGroup group = trainable.backwardGroup();
        if (backward) Objective.AttentionTransfer.requireMixerTensors(group.views(), student.config());
        int B = batch.sequences(), T = batch.length(), n = B * T, d = student.config().hiddenSize();
        LlamaModel.Trace[] traces = new LlamaModel.Trace[B];
        float[][] own = null;
        if (states == Objective.HiddenStates.TEACHER) {
            for (int s = 0; s < B; s++) traces[s] = teacher.trace(batch.inputs(s));
        } else {
            int[] ids = new int[n];
            for (int s = 0; s < B; s++) System.arraycopy(batch.inputs(s), 0, ids, s * T, T);
            own = student.residuals(ids, B, T);
        }
        LinkedHashMap<String, Double> sums = new LinkedHashMap<>();
        sums.put("loss", 0.0);
        double total = 0;
        for (int l = 0; l < student.config().numHiddenLayers(); l++) {
            if (!student.config().isGsaLayer(l)) continue;
            float[] h = own != null ? own[l] : new float[n * d], target = new float[n * d];
            for (int s = 0; s < B; s++) {
                if (own != null) {
                    float[] a = teacher.attentionOutput(l, Arrays.copyOfRange(h, s * T * d, (s + 1) * T * d));
                    System.arraycopy(a, 0, target, s * T * d, T * d);
                } else {
                    System.arraycopy(traces[s].residuals()[l], 0, h, s * T * d, T * d);
                    System.arraycopy(traces[s].attentionOutputs()[l], 0, target, s * T * d, T * d);
                }
            }
            Mixer.Pass pass = student.layerForward(l, student.attnNorm(l, h, n), B, T);
            float[] dOut = backward ? new float[n * d] : null;
            double mse = mse(pass.out(), target, dOut, n, d, (float) (gradScale * 2.0 / d));
            sums.put("mse." + l, mse);
            total += mse;
            int layer = l;
            if (backward && group.views().stream().anyMatch(v -> v.layer() == layer)) student.layerBackward(l, pass, dOut, null, group);
        }
        sums.put("loss", total);
        return new LossSums(batch.positions(), sums);
    }

    /** {@code Σ_p mean_j (y − a)²} over {@code n} rows of {@code d}, and {@code dOut = dScale·(y − a)} when wanted. */
    private static double mse(float[] y, float[] target, float[] dOut, int n, int d, float dScale) {
        double[] perPosition = new double[n];
        Parallel.forRange(n, 16, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                double e = 0;
                for (int j = p * d; j < (p + 1) * d; j++) {
                    float diff = y[j] - target[j];
                    e += (double) diff * diff;
                    if (dOut != null) dOut[j] = dScale * diff;
                }
                perPosition[p] = e / d;
            }
        });
        double sum = 0;
        for (double e : perPosition) sum += e;
        return sum;
    }

    /**
     * {@code (1 − w)·τ²·KL(teacher ‖ student at τ) + w·CE} per position when {@code withTeacher}, else CE;
     * terms {@code loss, kl, ce} (distill, plus {@code top1} when evaluating) or {@code loss, ce}. With
     * {@code weights} (one per position, or null), each position's loss, terms and gradient are multiplied by
     * its weight: runs of equal weight go through the loss functions together.
     */
    private LossSums logitLoss(TokenBatch batch, double tau, double w, boolean withTeacher, boolean backward, double gradScale,
                               float[] weights, IntConsumer finalFrom) {
        int B = batch.sequences(), T = batch.length(), n = B * T, V = student.vocabSize();
        int[] ids = new int[n], targets = new int[n];
        for (int s = 0; s < B; s++) {
            System.arraycopy(batch.inputs(s), 0, ids, s * T, T);
            System.arraycopy(batch.targets(s), 0, targets, s * T, T);
        }
        GsaModel.Activations a = student.forward(ids, B, T, backward ? memory : GsaModel.Memory.RECOMPUTE);
        float[] zs = a.logits();
        float[] dLogits = backward ? new float[n * V] : null;
        LinkedHashMap<String, Double> sums = new LinkedHashMap<>();
        sums.put("loss", 0.0);
        double klWeight = withTeacher ? (1 - w) * tau * tau : 0, loss = 0;
        float[] zt = null;
        if (withTeacher) {
            zt = new float[n * V];
            for (int s = 0; s < B; s++) System.arraycopy(teacher.logits(batch.inputs(s)), 0, zt, s * T * V, T * V);
            boolean klGrad = backward && klWeight > 0;
            float[] teacherLogits = zt;
            double kl = weightedRuns(weights, n, (r0, rows, wr) -> LogitLosses.klDivergence(teacherLogits, r0 * V, zs, r0 * V, rows, V,
                    (float) tau, klGrad ? dLogits : null, r0 * V, (float) (gradScale * klWeight * wr)));
            sums.put("kl", kl);
            loss += klWeight * kl;
        }
        boolean ceGrad = backward && w > 0;
        double ce = weightedRuns(weights, n, (r0, rows, wr) -> LogitLosses.crossEntropy(zs, r0 * V, rows, V, targets, r0,
                ceGrad ? dLogits : null, r0 * V, (float) (gradScale * w * wr)));
        sums.put("ce", ce);
        sums.put("loss", loss + w * ce);
        if (withTeacher && !backward) sums.put("top1", (double) LogitLosses.agreements(zs, zt, n, V));
        if (backward) student.backward(a, dLogits, trainable.backwardGroup(), finalFrom);
        return new LossSums(batch.positions(), sums);
    }

    /** A loss over rows {@code [r0, r0 + rows)} whose gradient is scaled by {@code weight}; returns the unweighted sum. */
    private interface RowLoss {
        double sum(int r0, int rows, double weight);
    }

    /** {@code Σ_r weight_r · loss_r} over {@code n} rows, a run of equal weights at a time (all rows at once without weights). */
    private static double weightedRuns(float[] weights, int n, RowLoss loss) {
        if (weights == null) return loss.sum(0, n, 1);
        double total = 0;
        for (int r0 = 0; r0 < n; ) {
            int r1 = r0 + 1;
            while (r1 < n && weights[r1] == weights[r0]) r1++;
            total += weights[r0] * loss.sum(r0, r1 - r0, weights[r0]);
            r0 = r1;
        }
        return total;
    }

    // ------------------------------------------------------------------ optimizer

    @Override
    public double gradientNorm() {
        return optimizer.gradientNorm();
    }

    @Override
    public void optimizerStep(AdamWStep step) {
        optimizer.step(step);
        trainable.weightsChanged();
    }

    // ------------------------------------------------------------------ state

    @Override
    public List<TensorSpec> stateSpecs() {
        return StateNames.specs(changedInLayoutOrder().stream().map(this::view).toList(), trainable instanceof CpuTrainable.Adapters,
                trainable.tensors().stream().map(CpuTensor::info).toList());
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
        float[] p = student.parameters();
        for (String name : changedInLayoutOrder()) {
            ParameterView v = view(name);
            float[] base = baseUnderLora(name);
            if (base != null) out.write(StateNames.param(name), base);          // the base weight, not W + s·BA
            else out.write(StateNames.param(name), sink -> sink.putFloats(p, v.arrayOffset(), v.arraySize()));
        }
        if (trainable instanceof CpuTrainable.Adapters) {
            for (CpuTensor t : trainable.tensors()) out.write(StateNames.lora(t.info().name()), t.values());
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
        float[] p = student.parameters();
        for (String name : StateNames.params(in.tensors().keySet())) {
            ParameterView v = view(name);
            float[] base = baseUnderLora(name);
            if (base != null) read(in, StateNames.param(name), v.shape(), base, 0);
            else read(in, StateNames.param(name), v.shape(), p, v.arrayOffset());
            changed.add(name);
        }
        if (trainable instanceof CpuTrainable.Adapters) {
            for (CpuTensor t : trainable.tensors()) read(in, StateNames.lora(t.info().name()), t.info().shape(), t.values(), 0);
        }
        optimizer.readMoments(in);
        trainable.weightsChanged();
    }

    private List<String> changedInLayoutOrder() {
        return student.layout().views().stream().map(ParameterView::name).filter(changed::contains).toList();
    }

    /** The base weight kept aside by the LoRA adapter of {@code name}, or null when it has none. */
    private float[] baseUnderLora(String name) {
        if (!(trainable instanceof CpuTrainable.Adapters a)) return null;
        LoraAdapters.Adapter ad = a.lora.adapterOf(name);
        return ad == null ? null : ad.base;
    }

    static void read(SafeTensors in, String name, long[] shape, float[] into, int offset) {
        in.expect(name, shape);
        float[] values = in.floats(name);
        System.arraycopy(values, 0, into, offset, values.length);
    }

    @Override
    public void saveStudent(Path dir, DType dtype) {
        if (trainable instanceof CpuTrainable.Adapters) throw new IllegalStateException("merge the LoRA adapters before saving the student");
        GsaCheckpoint.writeInto(student, dir, dtype);
    }

    // ------------------------------------------------------------------ diagnostics

    @Override
    public float[] readParameter(String name) {
        CpuTensor t = trainable instanceof CpuTrainable.Adapters ? trainable.find(name) : null;
        if (t != null) return Arrays.copyOfRange(t.values(), t.offset(), t.offset() + t.size());
        float[] base = baseUnderLora(name);
        if (base != null) return base.clone();
        return view(name).copyFrom(student.parameters());
    }

    @Override
    public void writeParameter(String name, float[] values) {
        CpuTensor t = trainable instanceof CpuTrainable.Adapters ? trainable.find(name) : null;
        float[] base = baseUnderLora(name);
        float[] into;
        int off, size;
        if (t != null) {
            into = t.values();
            off = t.offset();
            size = t.size();
        } else if (base != null) {
            into = base;
            off = 0;
            size = base.length;
        } else {
            ParameterView v = view(name);
            into = student.parameters();
            off = v.arrayOffset();
            size = v.arraySize();
        }
        if (values.length != size) throw new IllegalArgumentException(name + ": " + values.length + " values for " + size);
        System.arraycopy(values, 0, into, off, size);
        trainable.weightsChanged();
    }

    @Override
    public float[] readGradient(String name) {
        CpuTensor t = trainable.find(name);
        if (t == null) throw new IllegalArgumentException(name + " is not trainable now");
        return Arrays.copyOfRange(t.grad(), t.offset(), t.offset() + t.size());
    }

    private ParameterView view(String name) {
        ParameterView v = student.layout().find(name);
        if (v == null) throw new IllegalArgumentException("no parameter '" + name + "' in the student " + studentDir);
        return v;
    }

    @Override
    public void close() {}
}
