package gsat2r.cputrain;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.cpu.LogitLosses;
import gsat2r.core.cpu.Parallel;
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
import gsat2r.training.DataParallelBackend;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.cputrain.HostDataParallel;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.training.optim.AdamW;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@link TrainingBackend} of GSA students on the CPU, in fp32: the frozen teacher is a
 * {@link LlamaModel} (Llama or Mistral), the student a {@link GsaModel} whose one parameter buffer holds
 * the fp32 master weights and whose gradient buffer accumulates over micro-batches.
 *
 * <p>The objectives, exactly as {@link Objective} defines them:
 * <ul>
 * <li>attention transfer: the teacher's {@code trace} gives, per layer l, the residual stream
 *     {@code h_l} entering it and its attention output {@code a_l} (after o_proj); every GSA layer runs
 *     alone on {@code attn_norm_l(h_l)} (the student's attn_norm, which conversion copies from the
 *     teacher's input_layernorm) and its output is compared with {@code a_l}; layers kept as softmax
 *     attention have no term. Each layer's backward stops at its own input, so a layer's parameters get
 *     gradient from its own term only.</li>
 * <li>distill: {@code (1 − w)·τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) + w·CE(z_S)} on the teacher's
 *     and the student's logits of the same batch, through {@link LogitLosses}.</li>
 * <li>finetune: the student's next-token cross-entropy.</li>
 * </ul>
 * Upstream gradients are multiplied by {@code gradScale} before the backward, which then adds straight
 * into the gradient buffer. LoRA adapters train through the effective weights ({@link LoraAdapters}).
 *
 * <p>Determinism: every op of {@code gsat2r.core.cpu} and {@code gsat2r.core.gsa} splits its work by
 * output elements only and sums in a fixed order, and every sum here is sequential in double: the same
 * calls give the same bits whatever the number of threads.
 *
 * <p>Data parallel ({@link DataParallelBackend}, docs/distributed.md): after {@link #joinDataParallel}
 * a {@link HostDataParallel} sums the gradients across ranks, bucket by bucket while the student's
 * backward goes on (it reports each block whose gradients are final), and runs AdamW sharded across the
 * ranks; this backend then keeps no moments of its own.
 */
public final class CpuGsaBackend implements DataParallelBackend {

    private final LlamaModel teacher;           // null when the run does not need it
    private final GsaModel student;
    private final GsaModel.Memory memory;
    private final Path studentDir;

    /** What the model's backward computes gradients for (for LoRA: the adapted tensors). */
    private ParameterGroup group;
    /** The trainable tensors, in a stable order, with their optimizer moments. */
    private final List<Slot> slots = new ArrayList<>();
    private final Map<String, Slot> slotByName = new LinkedHashMap<>();
    private LoraAdapters lora;
    /** AdamW moments of the non-LoRA trainable tensors, in the layout of the parameter buffer (allocated on first use). */
    private float[] momentM, momentV;
    /** Set by {@link #joinDataParallel}: the gradient reduction and the sharded optimizer (then {@code Slot.m/v} are null). */
    private HostDataParallel dp;

    /** A trainable tensor: {@code values[offset, offset + size)}, its gradient and moments at the same offsets (no moments when data parallel). */
    private record Slot(ParameterInfo info, float[] values, float[] grad, float[] m, float[] v, int offset, int size) {}

    public CpuGsaBackend(LlamaModel teacher, GsaModel student, GsaModel.Memory memory, Path studentDir) {
        this.teacher = teacher;
        this.student = student;
        this.memory = memory;
        this.studentDir = studentDir;
        this.group = new ParameterGroup("none", List.of());
    }

    /** Loads the teacher (when needed) and the student of {@code r}, and checks that they fit together. */
    public static CpuGsaBackend open(BackendRequest r) {
        GsaModel student = GsaModel.load(r.student());
        LlamaModel teacher = null;
        if (r.needsTeacher()) {
            teacher = LlamaModel.load(r.teacher());
            checkPair(teacher.config(), r.teacher(), student.config(), r.student());
        }
        return new CpuGsaBackend(teacher, student, r.recompute() ? GsaModel.Memory.RECOMPUTE : GsaModel.Memory.KEEP, r.student());
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

    /** The student model (its live parameter buffer), for tests and tools. */
    public GsaModel student() {
        return student;
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
        List<ParameterInfo> out = new ArrayList<>();
        for (ParameterView v : student.layout().views()) out.add(new ParameterInfo(v.name(), v.shape()));
        return out;
    }

    // ------------------------------------------------------------------ trainable sets

    @Override
    public List<ParameterInfo> setTrainable(TrainableSet set, long seed) {
        if (lora != null) throw new IllegalStateException("merge the LoRA adapters of the previous stage first");
        slots.clear();
        slotByName.clear();
        student.zeroGradients();
        float[] g = student.gradients();
        switch (set) {
            case TrainableSet.Lora l -> {
                lora = new LoraAdapters(student, l.rank(), l.scale(), seed);
                group = lora.targets();
                for (LoraAdapters.Adapter ad : lora.adapters()) {
                    addSlot(new Slot(ad.infoA, ad.a, ad.gradA, moments(ad.a.length), moments(ad.a.length), 0, ad.a.length));
                    addSlot(new Slot(ad.infoB, ad.b, ad.gradB, moments(ad.b.length), moments(ad.b.length), 0, ad.b.length));
                }
            }
            case TrainableSet.Gates x -> group = student.group("gates");
            case TrainableSet.Attention x -> group = student.group("attention");
            case TrainableSet.All x -> group = student.group("all");
        }
        if (lora == null && dp == null) {
            int n = student.parameters().length;
            if (momentM == null) {
                momentM = new float[n];
                momentV = new float[n];
            } else {
                Arrays.fill(momentM, 0f);
                Arrays.fill(momentV, 0f);
            }
        }
        if (lora == null) {
            for (ParameterView v : group.views()) {
                addSlot(new Slot(new ParameterInfo(v.name(), v.shape()), student.parameters(), g, momentM, momentV, v.offset(), v.size()));
            }
        }
        if (dp != null) dp.setTrainable(slots.stream().map(s -> new HostDataParallel.Tensor(s.info(), s.values(), s.grad(), s.offset())).toList());
        return slots.stream().map(Slot::info).toList();
    }

    /** Moments of a LoRA adapter; none when data parallel (the sharded optimizer keeps them). */
    private float[] moments(int size) {
        return dp == null ? new float[size] : null;
    }

    // ------------------------------------------------------------------ data parallel

    @Override
    public void joinDataParallel(ProcessGroup processGroup, DataParallelOptions options) {
        if (dp != null) throw new IllegalStateException("already a rank of a data-parallel group");
        if (!slots.isEmpty() || lora != null) throw new IllegalStateException("join the data-parallel group before setTrainable");
        dp = new HostDataParallel(processGroup, options);
        momentM = momentV = null;
    }

    /** The data-parallel engine after {@link #joinDataParallel}, else null (for tests). */
    public HostDataParallel dataParallel() {
        return dp;
    }

    @Override
    public LossSums forwardBackwardAndReduce(Objective objective, TokenBatch batch, double gradScale) {
        if (dp == null) throw new IllegalStateException("not a rank of a data-parallel group: joinDataParallel first");
        HostDataParallel.Reduction reduction = dp.startReduction();
        LossSums sums = run(objective, batch, true, gradScale, lora == null ? reduction : null);
        if (lora != null) lora.collectGradients();
        reduction.finishBackward();
        return sums;
    }

    /** The index of the first trainable tensor at or above parameter-buffer offset {@code offset} (slots follow the buffer's order). */
    private int firstSlotAtOrAbove(int offset) {
        int i = slots.size();
        while (i > 0 && slots.get(i - 1).offset() >= offset) i--;
        return i;
    }

    private void addSlot(Slot s) {
        slots.add(s);
        slotByName.put(s.info().name(), s);
    }

    // ------------------------------------------------------------------ objectives

    @Override
    public LossSums forwardBackward(Objective objective, TokenBatch batch, double gradScale) {
        LossSums sums = run(objective, batch, true, gradScale, null);
        if (lora != null) lora.collectGradients();
        return sums;
    }

    @Override
    public LossSums evaluate(Objective objective, TokenBatch batch) {
        return run(objective, batch, false, 0, null);
    }

    /** {@code reduction}: when not null, told during the backward which gradients are final (the data-parallel step's last micro-batch). */
    private LossSums run(Objective objective, TokenBatch batch, boolean backward, double gradScale, HostDataParallel.Reduction reduction) {
        if (objective.needsTeacher() && teacher == null) {
            throw new IllegalStateException("the backend was opened without the teacher, which " + objective.type() + " needs");
        }
        if (lora != null) lora.materialize();
        return switch (objective) {
            case Objective.AttentionTransfer at -> attentionTransfer(batch, backward, gradScale);
            case Objective.Distill d -> logitLoss(batch, d.temperature(), d.ceWeight(), true, backward, gradScale, reduction);
            case Objective.LanguageModeling lm -> logitLoss(batch, 1, 1, false, backward, gradScale, reduction);
        };
    }

    /** Per GSA layer l: {@code Σ_p mean_j (y_l(p)_j − a_l(p)_j)²} with {@code y_l = layer_l(attn_norm_l(h_l))}. */
    private LossSums attentionTransfer(TokenBatch batch, boolean backward, double gradScale) {
        if (backward) {
            for (ParameterView v : group.views()) {
                if (v.layer() < 0 || !student.config().isGsaLayer(v.layer()) || !isMixerTensor(v)) {
                    throw new IllegalStateException("attention transfer trains GSA-layer tensors only, not " + v.name());
                }
            }
        }
        int B = batch.sequences(), T = batch.length(), n = B * T, d = student.config().hiddenSize();
        int L = student.config().numHiddenLayers();
        LlamaModel.Trace[] traces = new LlamaModel.Trace[B];
        for (int s = 0; s < B; s++) traces[s] = teacher.trace(batch.inputs(s));
        LinkedHashMap<String, Double> sums = new LinkedHashMap<>();
        sums.put("loss", 0.0);
        double total = 0;
        for (int l = 0; l < L; l++) {
            if (!student.config().isGsaLayer(l)) continue;
            float[] h = new float[n * d], target = new float[n * d];
            for (int s = 0; s < B; s++) {
                System.arraycopy(traces[s].residuals()[l], 0, h, s * T * d, T * d);
                System.arraycopy(traces[s].attentionOutputs()[l], 0, target, s * T * d, T * d);
            }
            Mixer.Pass pass = student.layerForward(l, student.attnNorm(l, h, n), B, T);
            float[] y = pass.out();
            float[] dOut = backward ? new float[n * d] : null;
            double[] perPosition = new double[n];
            float dScale = (float) (gradScale * 2.0 / d);
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
            double mse = 0;
            for (double e : perPosition) mse += e;
            sums.put("mse." + l, mse);
            total += mse;
            if (backward && layerHasTrainable(l)) student.layerBackward(l, pass, dOut, null, group);
        }
        sums.put("loss", total);
        return new LossSums(batch.positions(), sums);
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
     * terms {@code loss, kl, ce} (distill, plus {@code top1} when evaluating) or {@code loss, ce}.
     */
    private LossSums logitLoss(TokenBatch batch, double tau, double w, boolean withTeacher, boolean backward, double gradScale,
                               HostDataParallel.Reduction reduction) {
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
        double klWeight = withTeacher ? (1 - w) * tau * tau : 0;
        double loss = 0;
        float[] zt = null;
        if (withTeacher) {
            zt = new float[n * V];
            for (int s = 0; s < B; s++) System.arraycopy(teacher.logits(batch.inputs(s)), 0, zt, s * T * V, T * V);
            boolean klGrad = backward && klWeight > 0;
            double kl = LogitLosses.klDivergence(zt, 0, zs, 0, n, V, (float) tau, klGrad ? dLogits : null, 0,
                    (float) (gradScale * klWeight));
            sums.put("loss", 0.0);
            sums.put("kl", kl);
            loss += klWeight * kl;
        } else {
            sums.put("loss", 0.0);
        }
        boolean ceGrad = backward && w > 0;
        double ce = LogitLosses.crossEntropy(zs, 0, n, V, targets, 0, ceGrad ? dLogits : null, 0, (float) (gradScale * w));
        sums.put("ce", ce);
        loss += w * ce;
        sums.put("loss", loss);
        if (withTeacher && !backward) sums.put("top1", (double) agreements(zs, zt, n, V));
        if (backward && reduction == null) student.backward(a, dLogits, group);
        if (backward && reduction != null) student.backward(a, dLogits, group, from -> reduction.gradientsFinalFrom(firstSlotAtOrAbove(from)));
        return new LossSums(batch.positions(), sums);
    }

    /** Positions where the student's most likely token is the teacher's (the first maximum on ties). */
    private static long agreements(float[] zs, float[] zt, int rows, int V) {
        long agree = 0;
        for (int r = 0; r < rows; r++) if (argmax(zs, r * V, V) == argmax(zt, r * V, V)) agree++;
        return agree;
    }

    private static int argmax(float[] z, int off, int n) {
        int best = 0;
        for (int j = 1; j < n; j++) if (z[off + j] > z[off + best]) best = j;
        return best;
    }

    // ------------------------------------------------------------------ optimizer

    @Override
    public double gradientNorm() {
        if (dp != null) return dp.gradientNorm();
        double s = 0;
        for (Slot slot : slots) {
            float[] g = slot.grad();
            for (int i = slot.offset(); i < slot.offset() + slot.size(); i++) s += (double) g[i] * g[i];
        }
        return Math.sqrt(s);
    }

    @Override
    public void optimizerStep(AdamWStep step) {
        if (dp != null) {
            dp.optimizerStep(step);
            if (lora != null) lora.invalidate();
            return;
        }
        for (Slot slot : slots) {
            AdamW.update(slot.values(), slot.grad(), slot.m(), slot.v(), slot.offset(), slot.size(), step,
                    step.weightDecayOf(slot.info()));
            Arrays.fill(slot.grad(), slot.offset(), slot.offset() + slot.size(), 0f);
        }
        if (lora != null) lora.invalidate();
    }

    @Override
    public void mergeLora() {
        if (lora == null) return;
        lora.merge();
        lora = null;
        slots.clear();
        slotByName.clear();
        group = new ParameterGroup("none", List.of());
        student.zeroGradients();
        if (dp != null) dp.setTrainable(List.of());
    }

    // ------------------------------------------------------------------ state

    @Override
    public List<TensorSpec> stateSpecs() {
        List<TensorSpec> specs = new ArrayList<>();
        for (ParameterView v : student.layout().views()) specs.add(TensorSpec.of("param/" + v.name(), DType.F32, v.shape()));
        if (lora != null) {
            for (LoraAdapters.Adapter ad : lora.adapters()) {
                specs.add(TensorSpec.of("lora/" + ad.infoA.name(), DType.F32, ad.infoA.shape()));
                specs.add(TensorSpec.of("lora/" + ad.infoB.name(), DType.F32, ad.infoB.shape()));
            }
        }
        for (Slot s : slots) {
            specs.add(TensorSpec.of("adam_m/" + s.info().name(), DType.F32, s.info().shape()));
            specs.add(TensorSpec.of("adam_v/" + s.info().name(), DType.F32, s.info().shape()));
        }
        return specs;
    }

    @Override
    public void writeState(TensorWriter out) {
        if (dp != null && out == null) {            // a data-parallel rank other than 0: takes part in gathering the moments
            dp.writeMoments(null);
            return;
        }
        float[] p = student.parameters();
        for (ParameterView v : student.layout().views()) {
            LoraAdapters.Adapter ad = lora == null ? null : lora.adapterOf(v.name());
            if (ad != null) out.write("param/" + v.name(), ad.base);           // the base weight, not W + s·BA
            else out.write("param/" + v.name(), sink -> sink.putFloats(p, v.offset(), v.size()));
        }
        if (lora != null) {
            for (LoraAdapters.Adapter ad : lora.adapters()) {
                out.write("lora/" + ad.infoA.name(), ad.a);
                out.write("lora/" + ad.infoB.name(), ad.b);
            }
        }
        if (dp != null) {
            dp.writeMoments(out);
            return;
        }
        for (Slot s : slots) {
            out.write("adam_m/" + s.info().name(), sink -> sink.putFloats(s.m(), s.offset(), s.size()));
            out.write("adam_v/" + s.info().name(), sink -> sink.putFloats(s.v(), s.offset(), s.size()));
        }
    }

    @Override
    public void readState(SafeTensors in) {
        float[] p = student.parameters();
        for (ParameterView v : student.layout().views()) {
            LoraAdapters.Adapter ad = lora == null ? null : lora.adapterOf(v.name());
            if (ad != null) read(in, "param/" + v.name(), v.shape(), ad.base, 0);
            else read(in, "param/" + v.name(), v.shape(), p, v.offset());
        }
        if (lora != null) {
            for (LoraAdapters.Adapter ad : lora.adapters()) {
                read(in, "lora/" + ad.infoA.name(), ad.infoA.shape(), ad.a, 0);
                read(in, "lora/" + ad.infoB.name(), ad.infoB.shape(), ad.b, 0);
            }
            lora.invalidate();
        }
        if (dp != null) {
            dp.readMoments(in);
            return;
        }
        for (Slot s : slots) {
            read(in, "adam_m/" + s.info().name(), s.info().shape(), s.m(), s.offset());
            read(in, "adam_v/" + s.info().name(), s.info().shape(), s.v(), s.offset());
        }
    }

    private static void read(SafeTensors in, String name, long[] shape, float[] into, int offset) {
        in.expect(name, shape);
        float[] values = in.floats(name);
        System.arraycopy(values, 0, into, offset, values.length);
    }

    @Override
    public void saveStudent(Path dir) {
        if (lora != null) throw new IllegalStateException("merge the LoRA adapters before saving the student");
        GsaCheckpoint.writeInto(student, dir, DType.F32);
    }

    // ------------------------------------------------------------------ diagnostics

    @Override
    public float[] readParameter(String name) {
        if (lora != null) {
            Slot s = slotByName.get(name);
            if (s != null) return Arrays.copyOfRange(s.values(), s.offset(), s.offset() + s.size());
            LoraAdapters.Adapter ad = lora.adapterOf(name);
            if (ad != null) return ad.base.clone();
        }
        return view(name).copyFrom(student.parameters());
    }

    @Override
    public void writeParameter(String name, float[] values) {
        if (lora != null) {
            Slot s = slotByName.get(name);
            LoraAdapters.Adapter ad = lora.adapterOf(name);
            if (s != null || ad != null) {
                float[] into = s != null ? s.values() : ad.base;
                int off = s != null ? s.offset() : 0, size = s != null ? s.size() : ad.base.length;
                if (values.length != size) throw new IllegalArgumentException(name + ": " + values.length + " values for " + size);
                System.arraycopy(values, 0, into, off, size);
                lora.invalidate();
                return;
            }
        }
        ParameterView v = view(name);
        if (values.length != v.size()) throw new IllegalArgumentException(name + ": " + values.length + " values for " + v.size());
        System.arraycopy(values, 0, student.parameters(), v.offset(), v.size());
    }

    @Override
    public float[] readGradient(String name) {
        Slot s = slotByName.get(name);
        if (s == null) throw new IllegalArgumentException(name + " is not trainable now");
        return Arrays.copyOfRange(s.grad(), s.offset(), s.offset() + s.size());
    }

    private ParameterView view(String name) {
        ParameterView v = student.layout().find(name);
        if (v == null) throw new IllegalArgumentException("no parameter '" + name + "' in the student " + studentDir);
        return v;
    }

    @Override
    public void close() {}
}
