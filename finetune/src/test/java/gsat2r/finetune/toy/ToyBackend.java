package gsat2r.finetune.toy;

import gsat2r.core.T2rException;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorSpec;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.TrainingBackend;
import gsat2r.training.optim.AdamW;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link TrainingBackend} over {@link ToyModel}: a frozen toy teacher and a trainable toy student on the
 * CPU, with fp32 gradients, AdamW moments and LoRA adapters, exactly as the interface asks. It is what
 * the trainer's tests (including the kill-and-resume test) train.
 *
 * <p>Test hook: with the system property {@code gsat2r.toy.haltAtStep=N}, the N-th call of
 * {@link #optimizerStep} in this process blocks forever, so that a test can kill the process at a
 * known point without racing it.
 */
public final class ToyBackend implements TrainingBackend {

    public static final String HALT_PROPERTY = "gsat2r.toy.haltAtStep";

    private final ToyModel teacher;
    private final ToyModel student;
    private final List<ToyModel.View> trainable = new ArrayList<>();
    private final Map<String, float[]> grads = new LinkedHashMap<>();
    private final Map<String, float[]> m = new LinkedHashMap<>();
    private final Map<String, float[]> v = new LinkedHashMap<>();
    private final long haltAt = Long.getLong(HALT_PROPERTY, -1);
    /** Student tensors some stage has trained: what the state holds. */
    private final java.util.Set<String> changed = new java.util.LinkedHashSet<>();
    private Path studentDir;
    private long optimizerSteps;

    public ToyBackend(ToyModel teacher, ToyModel student) {
        if (teacher != null && (teacher.vocab != student.vocab || teacher.dim != student.dim || teacher.layers != student.layers)) {
            throw new T2rException("toy teacher and student differ in shape");
        }
        this.teacher = teacher;
        this.student = student;
    }

    public static ToyBackend open(Path teacherDir, Path studentDir, boolean needsTeacher) {
        ToyBackend b = new ToyBackend(needsTeacher ? ToyModel.load(teacherDir) : null, ToyModel.load(studentDir));
        b.studentDir = studentDir;
        return b;
    }

    @Override
    public String description() {
        return "toy cpu (fp32 weights, fp64 arithmetic)";
    }

    @Override
    public int vocabSize() {
        return student.vocab;
    }

    @Override
    public List<ParameterInfo> parameters() {
        return student.parameters();
    }

    @Override
    public List<ParameterInfo> setTrainable(TrainableSet set, long seed) {
        if (student.lora != null) throw new IllegalStateException("merge the LoRA adapters of the previous stage first");
        trainable.clear();
        grads.clear();
        m.clear();
        v.clear();
        switch (set) {
            case TrainableSet.Lora l -> {
                student.addLora(l.rank(), l.scale(), seed);
                trainable.addAll(student.loraViews.values());
            }
            case TrainableSet.All a -> trainable.addAll(student.views.values());
            case TrainableSet.Attention a -> {
                for (ToyModel.View view : student.views.values()) if (view.name().contains(".attn.")) trainable.add(view);
            }
            case TrainableSet.Gates g -> {
                for (ToyModel.View view : student.views.values()) {
                    if (view.name().contains(".f_proj.") || view.name().contains(".g_norm.")) trainable.add(view);
                }
            }
        }
        if (!(set instanceof TrainableSet.Lora)) trainable.forEach(view -> changed.add(view.name()));
        for (ToyModel.View view : trainable) {
            grads.put(view.name(), new float[view.size()]);
            m.put(view.name(), new float[view.size()]);
            v.put(view.name(), new float[view.size()]);
        }
        return trainable.stream().map(ToyModel.View::info).toList();
    }

    @Override
    public LossSums forwardBackward(Objective objective, TokenBatch batch, double gradScale, boolean lastOfStep) {
        return run(objective, batch, true, gradScale);
    }

    @Override
    public LossSums evaluate(Objective objective, TokenBatch batch) {
        return run(objective, batch, false, 0);
    }

    private LossSums run(Objective objective, TokenBatch batch, boolean backward, double gradScale) {
        if (objective.needsTeacher() && teacher == null) throw new IllegalStateException("the backend was opened without the teacher");
        double[] gw = backward ? new double[student.w.length] : null;
        double[] gl = backward && student.lora != null ? new double[student.lora.length] : null;
        Map<String, Double> sums = new LinkedHashMap<>();
        sums.put("loss", 0.0);
        float[] weights = backward && objective instanceof Objective.Distill d ? d.positionWeights(batch) : null;
        for (int s = 0; s < batch.sequences(); s++) {
            int[] ids = batch.inputs(s), targets = batch.targets(s);
            double[] rowWeights = new double[ids.length];
            for (int p = 0; p < ids.length; p++) rowWeights[p] = weights == null ? 1 : weights[s * ids.length + p];
            switch (objective) {
                case Objective.AttentionTransfer at -> attentionTransfer(at.states(), ids, sums, gw, gl);
                case Objective.Distill d -> logitLoss(ids, targets, true, d.temperature(), d.ceWeight(), !backward, rowWeights, sums, gw, gl);
                case Objective.LanguageModeling lm -> logitLoss(ids, targets, false, 1, 1, false, rowWeights, sums, gw, gl);
            }
        }
        if (backward) accumulate(gw, gl, gradScale);
        return LossSums.of(batch.positions(), sums);
    }

    /** Each layer on the teacher's residual against its output, or on the student's own against the teacher layer's output on it. */
    private void attentionTransfer(Objective.HiddenStates states, int[] ids, Map<String, Double> sums, double[] gw, double[] gl) {
        ToyModel.Trace t = (states == Objective.HiddenStates.TEACHER ? teacher : student).forward(ids);
        int T = ids.length, d = student.dim;
        for (int l = 0; l < student.layers; l++) {
            ToyModel.LayerCache c = student.layerForward(l, t.h[l]);
            double[][] target = states == Objective.HiddenStates.TEACHER ? t.layer[l].a : teacher.layerForward(l, t.h[l]).a;
            double[][] dy = new double[T][d];
            double total = 0;
            for (int p = 0; p < T; p++) {
                double e = 0;
                for (int j = 0; j < d; j++) {
                    double diff = c.a[p][j] - target[p][j];
                    e += diff * diff;
                    dy[p][j] = 2 * diff / d;
                }
                total += e / d;
            }
            sums.merge("mse." + l, total, Double::sum);
            sums.merge("loss", total, Double::sum);
            if (gw != null) student.layerBackward(l, c, dy, gw, gl);
        }
    }

    /** (1 − w)·τ²·KL(teacher ‖ student at τ) + w·CE with the teacher; plain CE (w = 1) without; position p's terms times {@code rw[p]}. */
    private void logitLoss(int[] ids, int[] targets, boolean withTeacher, double tau, double w, boolean top1, double[] rw,
                           Map<String, Double> sums, double[] gw, double[] gl) {
        ToyModel.Trace s = student.forward(ids);
        ToyModel.Trace t = withTeacher ? teacher.forward(ids) : null;
        int T = ids.length, V = student.vocab;
        double[][] dlogits = gw == null ? null : new double[T][V];
        double loss = 0, kl = 0, ce = 0, agree = 0;
        for (int p = 0; p < T; p++) {
            double[] zs = s.logits[p];
            double[] logq = logSoftmax(zs, 1);
            double cep = rw[p] * -logq[targets[p]];
            ce += cep;
            double lp = w * cep;
            if (dlogits != null && w > 0) {
                for (int j = 0; j < V; j++) dlogits[p][j] += rw[p] * w * (Math.exp(logq[j]) - (j == targets[p] ? 1 : 0));
            }
            if (t != null) {
                double[] zt = t.logits[p];
                double[] logpT = logSoftmax(zt, tau), logqT = logSoftmax(zs, tau);
                double klp = 0;
                for (int j = 0; j < V; j++) {
                    double pj = Math.exp(logpT[j]);
                    if (pj > 0) klp += pj * (logpT[j] - logqT[j]);
                    if (dlogits != null && w < 1) dlogits[p][j] += rw[p] * (1 - w) * tau * tau * (Math.exp(logqT[j]) - pj) / tau;
                }
                klp *= rw[p];
                kl += klp;
                lp += (1 - w) * tau * tau * klp;
                if (argmax(zs) == argmax(zt)) agree++;
            }
            loss += lp;
        }
        sums.merge("loss", loss, Double::sum);
        if (t != null) sums.merge("kl", kl, Double::sum);
        sums.merge("ce", ce, Double::sum);
        if (top1) sums.merge("top1", agree, Double::sum);
        if (dlogits != null) student.backward(ids, s, dlogits, gw, gl);
    }

    private static double[] logSoftmax(double[] z, double tau) {
        double max = Double.NEGATIVE_INFINITY;
        for (double x : z) max = Math.max(max, x / tau);
        double sum = 0;
        for (double x : z) sum += Math.exp(x / tau - max);
        double lse = max + Math.log(sum);
        double[] out = new double[z.length];
        for (int j = 0; j < z.length; j++) out[j] = z[j] / tau - lse;
        return out;
    }

    private static int argmax(double[] z) {
        int best = 0;
        for (int j = 1; j < z.length; j++) if (z[j] > z[best]) best = j;
        return best;
    }

    private void accumulate(double[] gw, double[] gl, double scale) {
        for (ToyModel.View view : trainable) {
            double[] src = student.views.containsKey(view.name()) ? gw : gl;
            float[] g = grads.get(view.name());
            for (int i = 0; i < view.size(); i++) g[i] += (float) (scale * src[view.offset() + i]);
        }
    }

    @Override
    public double gradientNorm() {
        double s = 0;
        for (float[] g : grads.values()) for (float x : g) s += (double) x * x;
        return Math.sqrt(s);
    }

    @Override
    public void optimizerStep(AdamWStep step) {
        if (++optimizerSteps == haltAt) haltForever();
        for (ToyModel.View view : trainable) {
            float[] buffer = student.bufferOf(view.name());
            float[] g = grads.get(view.name());
            float[] p = new float[view.size()];
            System.arraycopy(buffer, view.offset(), p, 0, view.size());
            AdamW.update(p, g, m.get(view.name()), v.get(view.name()), 0, view.size(), step, step.weightDecayOf(view.info()));
            System.arraycopy(p, 0, buffer, view.offset(), view.size());
            java.util.Arrays.fill(g, 0f);
        }
    }

    private static void haltForever() {
        while (true) {
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public Map<String, float[]> loraFactors() {
        Map<String, float[]> out = new LinkedHashMap<>();
        if (student.lora != null) student.loraViews.values().forEach(v -> out.put(v.name(), slice(student.lora, v)));
        return out;
    }

    @Override
    public void mergeLora() {
        if (student.lora == null) return;
        student.mergeLora();
        student.views.values().forEach(view -> changed.add(view.name()));
        trainable.clear();                  // the adapters were the trainable set; nothing trains until the next stage
        grads.clear();
        m.clear();
        v.clear();
    }

    @Override
    public List<TensorSpec> stateSpecs() {
        List<TensorSpec> specs = new ArrayList<>();
        for (ToyModel.View view : student.views.values()) {
            if (changed.contains(view.name())) specs.add(TensorSpec.of("param/" + view.name(), DType.F32, view.shape()));
        }
        for (ToyModel.View view : student.loraViews.values()) specs.add(TensorSpec.of("lora/" + view.name(), DType.F32, view.shape()));
        for (ToyModel.View view : trainable) {
            specs.add(TensorSpec.of("adam_m/" + view.name(), DType.F32, view.shape()));
            specs.add(TensorSpec.of("adam_v/" + view.name(), DType.F32, view.shape()));
        }
        return specs;
    }

    @Override
    public void writeState(TensorWriter out) {
        for (ToyModel.View view : student.views.values()) if (changed.contains(view.name())) out.write("param/" + view.name(), slice(student.w, view));
        for (ToyModel.View view : student.loraViews.values()) out.write("lora/" + view.name(), slice(student.lora, view));
        for (ToyModel.View view : trainable) {
            out.write("adam_m/" + view.name(), m.get(view.name()));
            out.write("adam_v/" + view.name(), v.get(view.name()));
        }
    }

    @Override
    public void readState(SafeTensors in) {
        String saved = in.metadata().get(gsat2r.training.StateNames.BASE_FINGERPRINT);
        if (saved != null && !saved.equals(baseFingerprint())) throw new T2rException("this training state was made from another student");
        for (ToyModel.View view : student.views.values()) {
            if (in.has("param/" + view.name())) {
                read(in, "param/" + view.name(), view, student.w, view.offset());
                changed.add(view.name());
            }
        }
        for (ToyModel.View view : student.loraViews.values()) read(in, "lora/" + view.name(), view, student.lora, view.offset());
        for (ToyModel.View view : trainable) {
            read(in, "adam_m/" + view.name(), view, m.get(view.name()), 0);
            read(in, "adam_v/" + view.name(), view, v.get(view.name()), 0);
        }
    }

    private static void read(SafeTensors in, String name, ToyModel.View view, float[] into, int offset) {
        in.expect(name, view.shape());
        System.arraycopy(in.floats(name), 0, into, offset, view.size());
    }

    private static float[] slice(float[] buffer, ToyModel.View view) {
        float[] out = new float[view.size()];
        System.arraycopy(buffer, view.offset(), out, 0, view.size());
        return out;
    }

    @Override
    public java.util.Map<String, String> stateMetadata() {
        return gsat2r.training.StateNames.metadata(baseFingerprint());
    }

    private String baseFingerprint() {
        return gsat2r.core.model.ModelFingerprint.ofWeightFiles(gsat2r.core.model.ModelDirectory.open(studentDir));
    }

    @Override
    public void saveStudent(Path dir, gsat2r.core.safetensors.DType dtype) {
        if (student.lora != null) throw new IllegalStateException("merge the LoRA adapters before saving");
        student.save(dir);
    }

    @Override
    public float[] readParameter(String name) {
        return slice(student.bufferOf(name), student.view(name));
    }

    @Override
    public void writeParameter(String name, float[] values) {
        ToyModel.View view = student.view(name);
        if (values.length != view.size()) throw new IllegalArgumentException(name + ": " + values.length + " values for " + view.size());
        System.arraycopy(values, 0, student.bufferOf(name), view.offset(), view.size());
    }

    @Override
    public float[] readGradient(String name) {
        float[] g = grads.get(name);
        if (g == null) throw new IllegalArgumentException(name + " is not trainable");
        return g.clone();
    }

    @Override
    public void close() {}
}
