package gsat2r.training;

import gsat2r.core.data.SplitMix64;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.SafeTensorsWriter;
import gsat2r.core.safetensors.TensorWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The contract every {@link TrainingBackend} must meet for the trainer to be right: gradients of every
 * objective against central finite differences, accumulation over micro-batches, the AdamW update and
 * its weight-decay rule, trainable sets, LoRA (neutral at the start, merged into the same model),
 * determinism, exact state round trips, and saving. A backend's test extends this class with a factory
 * and two tiny model directories (a teacher and a student of it).
 */
public abstract class TrainingBackendContract {

    @TempDir
    protected Path scratch;

    /** The device under test. */
    protected abstract Device device();

    /** The precision the backend is opened in (fp32: the contract's tolerances are fp32's). */
    protected Precision precision() {
        return Precision.FP32;
    }

    /** A tiny teacher directory and a student made from it. */
    public record Models(Path teacher, Path student) {}

    /** The models under test (made once per class, in a {@code @BeforeAll}). */
    protected abstract Models models();

    protected int sequenceLength() {
        return 9;
    }

    /**
     * Relative L2 error allowed between backward gradients and central differences: the CPU and CUDA backends'
     * measured errors in fp32 are 3e-5 (attention transfer) to 3e-4 (distill, finetune, LoRA).
     */
    protected double gradientTolerance() {
        return 2e-3;
    }

    /** Finite-difference step, relative to max(1, |w|). */
    protected double differenceStep() {
        return 1e-2;
    }

    /** Relative difference allowed between the loss before and after merging LoRA adapters. */
    protected double mergeTolerance() {
        return 1e-5;
    }

    /** LoRA rank used by the tests. */
    protected int loraRank() {
        return 2;
    }

    protected TrainingBackend open() {
        return open(models().student());
    }

    protected TrainingBackend open(Path student) {
        return device().openTraining(BackendRequest.single(ModelDirectory.open(models().teacher()), ModelDirectory.open(student), precision(), 4,
                sequenceLength(), false));
    }

    protected TokenBatch batch(int vocab, int rows, long seed) {
        SplitMix64 rng = new SplitMix64(seed);
        int T = sequenceLength();
        int[] tokens = new int[rows * (T + 1)];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(vocab);
        return new TokenBatch(rows, T, tokens);
    }

    static final Objective AT = new Objective.AttentionTransfer();
    static final Objective DISTILL = new Objective.Distill(2.0, 0.3);
    static final Objective LM = new Objective.LanguageModeling();

    // ------------------------------------------------------------------ gradients

    @Test
    void gradientsOfEveryObjectiveMatchCentralDifferences() {
        check(AT, new TrainableSet.Attention());
        check(DISTILL, new TrainableSet.All());
        check(LM, new TrainableSet.All());
        check(DISTILL, new TrainableSet.Lora(loraRank(), 2.0 * loraRank()));
    }

    private void check(Objective objective, TrainableSet set) {
        try (TrainingBackend b = open()) {
            List<ParameterInfo> trainable = b.setTrainable(set, 5);
            if (set instanceof TrainableSet.Lora) {
                // B starts at zero, which would make A's gradient zero: give B values first.
                SplitMix64 rng = new SplitMix64(9);
                for (ParameterInfo p : trainable) {
                    float[] x = b.readParameter(p.name());
                    for (int i = 0; i < x.length; i++) x[i] = (float) (0.1 * rng.nextGaussian());
                    b.writeParameter(p.name(), x);
                }
            }
            TokenBatch batch = batch(b.vocabSize(), 2, 17);
            b.forwardBackward(objective, batch, 1.0, true);
            List<Double> analytic = new ArrayList<>(), numeric = new ArrayList<>();
            SplitMix64 pick = new SplitMix64(3);
            for (ParameterInfo p : trainable) {
                float[] grad = b.readGradient(p.name());
                float[] w = b.readParameter(p.name());
                for (int k = 0; k < 4; k++) {
                    int i = pick.nextInt(w.length);
                    analytic.add((double) grad[i]);
                    numeric.add(perturb(b, p.name(), w, i, objective, batch).slope(LossSums::loss));
                }
            }
            assertTrue(numeric.stream().anyMatch(x -> x != 0), objective + " " + set.spelling() + ": all sampled gradients are zero");
            double rel = relativeL2(analytic, numeric);
            assertTrue(rel <= gradientTolerance(), objective.type() + " / " + set.spelling() + ": relative L2 error " + rel
                    + " > " + gradientTolerance() + "\nanalytic " + analytic + "\nnumeric  " + numeric);
        }
    }

    static final Objective AT_OWN = new Objective.AttentionTransfer(Objective.HiddenStates.STUDENT);

    /**
     * Attention transfer on the student's own hidden states: a layer's input comes from the layers below it, but
     * its gradient stops there, so each tensor's gradient is the derivative of its own layer's term alone (the total
     * loss also moves through the layers above, which the gradient must not see). Below the lowest GSA layer a fresh
     * student is the teacher (its embeddings, its kept attention layers, its MLPs), so that layer's term is the same
     * as on the teacher's states; the terms above it are not.
     */
    @Test
    void attentionTransferOnTheStudentsStatesStopsAtEachLayersInput() {
        try (TrainingBackend b = open()) {
            List<ParameterInfo> trainable = b.setTrainable(new TrainableSet.Attention(), 5);
            TokenBatch batch = batch(b.vocabSize(), 2, 19);
            LossSums own = b.forwardBackward(AT_OWN, batch, 1.0, true);
            LossSums teachers = b.evaluate(AT, batch);
            List<String> terms = own.sums().keySet().stream().filter(k -> k.startsWith("mse.")).toList();
            assertEquals(teachers.sums().keySet(), own.sums().keySet());
            String lowest = terms.getFirst();
            assertEquals(teachers.sum(lowest), own.sum(lowest), 1e-5 * teachers.sum(lowest), lowest + " sees the same input either way");
            double apart = 0;
            for (String t : terms.subList(1, terms.size())) apart = Math.max(apart, Math.abs(own.sum(t) / teachers.sum(t) - 1));
            assertTrue(terms.size() == 1 || apart > 1e-3, "the upper layers' terms must change with their inputs: " + apart);
            List<Double> analytic = new ArrayList<>(), numeric = new ArrayList<>(), whole = new ArrayList<>();
            SplitMix64 pick = new SplitMix64(4);
            for (ParameterInfo p : trainable) {
                String term = "mse." + layerOf(p.name());
                assertTrue(terms.contains(term), p.name() + " trains in a layer with a term");
                float[] grad = b.readGradient(p.name());
                float[] w = b.readParameter(p.name());
                for (int k = 0; k < 4; k++) {
                    int i = pick.nextInt(w.length);
                    Perturbed d = perturb(b, p.name(), w, i, AT_OWN, batch);
                    analytic.add((double) grad[i]);
                    numeric.add(d.slope(sums -> sums.sum(term)));
                    whole.add(d.slope(LossSums::loss));
                }
            }
            double rel = relativeL2(analytic, numeric);
            assertTrue(rel <= gradientTolerance(), "relative L2 error against each layer's own term " + rel + " > " + gradientTolerance()
                    + "\nanalytic " + analytic + "\nnumeric  " + numeric);
            assertTrue(terms.size() == 1 || relativeL2(analytic, whole) > 10 * gradientTolerance(),
                    "the gradient must not be the whole loss's (it would be without the stop at each input): " + relativeL2(analytic, whole));
        }
    }

    /** The losses with element {@code i} of tensor {@code name} (values {@code w}) a step up and a step down; restores it. */
    private Perturbed perturb(TrainingBackend b, String name, float[] w, int i, Objective objective, TokenBatch batch) {
        float orig = w[i];
        double h = differenceStep() * Math.max(1, Math.abs(orig));
        w[i] = (float) (orig + h);
        float up = w[i];
        b.writeParameter(name, w);
        LossSums lossUp = b.evaluate(objective, batch);
        w[i] = (float) (orig - h);
        float down = w[i];
        b.writeParameter(name, w);
        LossSums lossDown = b.evaluate(objective, batch);
        w[i] = orig;
        b.writeParameter(name, w);
        return new Perturbed(lossUp, lossDown, (double) up - down);
    }

    /** Central differences: the losses a step up and down, and the step as the floats hold it. */
    private record Perturbed(LossSums up, LossSums down, double step) {
        double slope(java.util.function.ToDoubleFunction<LossSums> of) {
            return (of.applyAsDouble(up) - of.applyAsDouble(down)) / step;
        }
    }

    private static int layerOf(String tensor) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\.layers\\.(\\d+)\\.").matcher(tensor);
        assertTrue(m.find(), tensor + " belongs to a layer");
        return Integer.parseInt(m.group(1));
    }

    private static double relativeL2(List<Double> a, List<Double> reference) {
        double num = 0, den = 0;
        for (int i = 0; i < a.size(); i++) {
            num += (a.get(i) - reference.get(i)) * (a.get(i) - reference.get(i));
            den += reference.get(i) * reference.get(i);
        }
        return Math.sqrt(num / den);
    }

    @Test
    void microBatchesAccumulateToTheGradientOfTheWholeBatch() {
        TokenBatch both;
        TokenBatch first, second;
        try (TrainingBackend b = open()) {
            both = batch(b.vocabSize(), 2, 21);
        }
        int row = sequenceLength() + 1;
        first = new TokenBatch(1, sequenceLength(), java.util.Arrays.copyOfRange(both.tokens(), 0, row));
        second = new TokenBatch(1, sequenceLength(), java.util.Arrays.copyOfRange(both.tokens(), row, 2 * row));
        for (Objective objective : List.of(AT, DISTILL, LM)) {
            TrainableSet set = objective == AT ? new TrainableSet.Attention() : new TrainableSet.All();
            try (TrainingBackend whole = open(); TrainingBackend split = open()) {
                List<ParameterInfo> params = whole.setTrainable(set, 1);
                split.setTrainable(set, 1);
                LossSums a = whole.forwardBackward(objective, both, 0.25, true);
                LossSums b = split.forwardBackward(objective, first, 0.25, true).plus(split.forwardBackward(objective, second, 0.25, true));
                assertEquals(a.positions(), b.positions());
                assertEquals(a.loss(), b.loss(), 1e-6 * Math.abs(a.loss()), objective.type());
                for (ParameterInfo p : params) assertClose(objective.type() + " " + p.name(), whole.readGradient(p.name()),
                        split.readGradient(p.name()), 1e-5);
                assertEquals(whole.gradientNorm(), split.gradientNorm(), 1e-5 * whole.gradientNorm());
            }
        }
    }

    /**
     * A distill loss with recall weight r is Σ_{other} l + r·Σ_{copy} l, linear in r: loss and gradient at r = 2
     * are 2·(r = 1) − (r = 0). The batch repeats its first tokens, so it has copy positions; the gradients at
     * r = 0 and r = 1 must differ (a backend that weighted only the reported loss would fail here), and
     * evaluation is never weighted.
     */
    @Test
    void recallWeightCountsCopyPositionsLinearly() {
        int T = sequenceLength();
        int[] tokens;
        try (TrainingBackend b = open()) {
            TokenBatch random = batch(b.vocabSize(), 2, 23);
            tokens = random.tokens().clone();
        }
        int half = (T + 1) / 2;
        for (int r = 0; r < 2; r++) for (int t = half; t < T + 1; t++) tokens[r * (T + 1) + t] = tokens[r * (T + 1) + t - half];
        TokenBatch batch = new TokenBatch(2, T, tokens);
        float[] weights = new Objective.Distill(2.0, 0.3, 2.0).positionWeights(batch);
        int copies = 0;
        for (float w : weights) if (w == 2f) copies++;
        assertTrue(copies > 0 && copies < weights.length, copies + " copy positions of " + weights.length);
        double[] loss = new double[3];
        List<Map<String, float[]>> grads = new ArrayList<>();
        for (int r = 0; r <= 2; r++) {
            try (TrainingBackend b = open()) {
                List<ParameterInfo> params = b.setTrainable(new TrainableSet.All(), 1);
                Objective weighted = new Objective.Distill(2.0, 0.3, r);
                loss[r] = b.forwardBackward(weighted, batch, 1.0, true).loss();
                Map<String, float[]> g = new java.util.LinkedHashMap<>();
                for (ParameterInfo p : params) g.put(p.name(), b.readGradient(p.name()));
                grads.add(g);
                assertEquals(b.evaluate(DISTILL, batch).loss(), b.evaluate(weighted, batch).loss(), 0.0, "evaluation is not weighted");
            }
        }
        assertTrue(loss[0] < loss[1], "copy positions carry loss: " + loss[0] + " < " + loss[1]);
        assertEquals(2 * loss[1] - loss[0], loss[2], 1e-5 * loss[2], "loss linear in the recall weight");
        double moved = 0, size = 0;
        for (String name : grads.get(1).keySet()) {
            float[] g0 = grads.get(0).get(name), g1 = grads.get(1).get(name), g2 = grads.get(2).get(name);
            float[] expect = new float[g1.length];
            for (int i = 0; i < g1.length; i++) {
                expect[i] = 2 * g1[i] - g0[i];
                moved += ((double) g1[i] - g0[i]) * ((double) g1[i] - g0[i]);
                size += (double) g1[i] * g1[i];
            }
            assertClose("gradient of " + name + " at recall weight 2", expect, g2, 1e-4);
        }
        assertTrue(moved > 1e-6 * size, "the gradient at recall weight 0 equals that at 1: the weights did not reach it");
    }

    /**
     * The answer weight reaches loss and gradient at the batch's marked targets alone: at a = 2 they are 2·(a = 1) −
     * (a = 0), as for the recall weight, the marks on a random batch with no copy positions to speak of.
     */
    @Test
    void answerWeightCountsMarkedTargetsLinearly() {
        int T = sequenceLength();
        int[] tokens;
        try (TrainingBackend b = open()) {
            tokens = batch(b.vocabSize(), 2, 29).tokens().clone();
        }
        byte[] answers = new byte[tokens.length];
        for (int i = 3; i < answers.length; i += 5) answers[i] = 1;
        TokenBatch batch = new TokenBatch(2, T, tokens, answers);
        double[] loss = new double[3];
        List<Map<String, float[]>> grads = new ArrayList<>();
        for (int a = 0; a <= 2; a++) {
            try (TrainingBackend b = open()) {
                List<ParameterInfo> params = b.setTrainable(new TrainableSet.All(), 1);
                loss[a] = b.forwardBackward(new Objective.Distill(2.0, 0.3, 1, a), batch, 1.0, true).loss();
                Map<String, float[]> g = new java.util.LinkedHashMap<>();
                for (ParameterInfo p : params) g.put(p.name(), b.readGradient(p.name()));
                grads.add(g);
            }
        }
        assertTrue(loss[0] < loss[1], "marked targets carry loss: " + loss[0] + " < " + loss[1]);
        assertEquals(2 * loss[1] - loss[0], loss[2], 1e-5 * loss[2], "loss linear in the answer weight");
        for (String name : grads.get(1).keySet()) {
            float[] g0 = grads.get(0).get(name), g1 = grads.get(1).get(name), g2 = grads.get(2).get(name);
            float[] expect = new float[g1.length];
            for (int i = 0; i < g1.length; i++) expect[i] = 2 * g1[i] - g0[i];
            assertClose("gradient of " + name + " at answer weight 2", expect, g2, 1e-4);
        }
    }

    @Test
    void evaluateReturnsTheTrainingLossAndChangesNothing() {
        try (TrainingBackend b = open()) {
            List<ParameterInfo> params = b.setTrainable(new TrainableSet.All(), 1);
            TokenBatch batch = batch(b.vocabSize(), 2, 5);
            LossSums before = b.evaluate(DISTILL, batch);
            assertTrue(before.sums().containsKey("top1"), "distill evaluation reports top1: " + before.sums().keySet());
            double top1 = before.sum("top1");
            assertTrue(top1 >= 0 && top1 <= batch.positions());
            LossSums trained = b.forwardBackward(DISTILL, batch, 1.0, true);
            assertEquals(before.loss(), trained.loss(), 1e-9 * Math.abs(before.loss()));
            assertEquals(before.sum("kl"), trained.sum("kl"), 1e-9 * Math.abs(before.sum("kl")));
            assertEquals(before.sum("ce"), trained.sum("ce"), 1e-9 * Math.abs(before.sum("ce")));
            Map<String, float[]> grads = new java.util.HashMap<>();
            for (ParameterInfo p : params) grads.put(p.name(), b.readGradient(p.name()));
            b.evaluate(DISTILL, batch);
            b.evaluate(AT, batch);
            for (ParameterInfo p : params) assertArrayEquals(grads.get(p.name()), b.readGradient(p.name()), p.name());
            LossSums at = b.evaluate(AT, batch);
            assertTrue(at.sums().keySet().stream().anyMatch(k -> k.startsWith("mse.")), at.sums().keySet().toString());
            double layers = at.sums().entrySet().stream().filter(e -> e.getKey().startsWith("mse.")).mapToDouble(Map.Entry::getValue).sum();
            assertEquals(at.loss(), layers, 1e-9 * layers, "attention-transfer loss is the sum of the layers' MSE");
            LossSums lm = b.evaluate(LM, batch);
            assertEquals(lm.loss(), lm.sum("ce"), 0);
        }
    }

    // ------------------------------------------------------------------ optimizer

    /** AdamW by hand: decay on matrices only, short convolutions' kernels (students that have them) at their own rate. */
    @Test
    void optimizerStepIsAdamWWithDecayOnMatricesOnlyAndZeroesGradients() {
        try (TrainingBackend b = open()) {
            List<ParameterInfo> params = b.setTrainable(new TrainableSet.All(), 1);
            b.forwardBackward(DISTILL, batch(b.vocabSize(), 2, 8), 1.0, true);
            double norm = b.gradientNorm();
            double sq = 0;
            for (ParameterInfo p : params) for (float g : b.readGradient(p.name())) sq += (double) g * g;
            assertEquals(Math.sqrt(sq), norm, 1e-6 * norm, "gradientNorm is the L2 norm of all trainable gradients");

            Map<String, float[]> p0 = new java.util.HashMap<>(), g0 = new java.util.HashMap<>();
            for (ParameterInfo p : params) {
                p0.put(p.name(), b.readParameter(p.name()));
                g0.put(p.name(), b.readGradient(p.name()));
            }
            AdamWStep step = new AdamWStep(1, 0.01, 0.9, 0.95, 1e-8, 0.1, 0.5, 7.0);
            b.optimizerStep(step);
            boolean sawDecay = false, sawNoDecay = false;
            for (ParameterInfo p : params) {
                float[] now = b.readParameter(p.name()), before = p0.get(p.name()), g = g0.get(p.name());
                double lambda = p.rank() >= 2 ? 0.1 : 0.0;
                double lr = p.name().endsWith("_conv1d.weight") ? 0.07 : 0.01;       // the convolutions' own rate
                sawDecay |= lambda > 0;
                sawNoDecay |= lambda == 0;
                for (int i = 0; i < now.length; i++) {
                    // Step 1, by hand: m = (1 − β1)·g', v = (1 − β2)·g'², m̂ = g', sqrt(v̂) = |g'|.
                    double gs = (double) g[i] * 0.5;
                    double m = 0.1 * gs, v = 0.05 * gs * gs;
                    double expected = before[i] * (1 - lr * lambda) - lr / 0.1 * m / (Math.sqrt(v) / Math.sqrt(0.05) + 1e-8);
                    double tol = 2e-6 * Math.max(1, Math.abs(expected));
                    if (Math.abs(now[i] - expected) > tol) {
                        fail(p.name() + "[" + i + "]: " + now[i] + " != AdamW " + expected + " (p " + before[i] + ", g " + g[i] + ")");
                    }
                }
                for (float x : b.readGradient(p.name())) assertEquals(0f, x, p.name() + ": gradients are zeroed by the step");
            }
            assertTrue(sawDecay && sawNoDecay, "the student should have both matrices and gains");
        }
    }

    // ------------------------------------------------------------------ trainable sets and LoRA

    @Test
    void onlyTheTrainableSetChanges() {
        for (TrainableSet set : List.of(new TrainableSet.Gates(), new TrainableSet.Attention(), new TrainableSet.All(),
                new TrainableSet.Lora(loraRank(), 2.0 * loraRank()))) {
            try (TrainingBackend b = open(); TrainingBackend fresh = open()) {
                List<ParameterInfo> trainable = b.setTrainable(set, 2);
                assertFalse(trainable.isEmpty(), set.spelling());
                Set<String> names = new HashSet<>();
                trainable.forEach(p -> names.add(p.name()));
                for (int s = 1; s <= 2; s++) {
                    b.forwardBackward(DISTILL, batch(b.vocabSize(), 2, 40 + s), 0.05, true);
                    b.optimizerStep(new AdamWStep(s, 0.01, 0.9, 0.95, 1e-8, 0.0, 1.0));
                }
                int changed = 0;
                for (ParameterInfo p : b.parameters()) {
                    boolean same = java.util.Arrays.equals(b.readParameter(p.name()), fresh.readParameter(p.name()));
                    if (!names.contains(p.name())) assertTrue(same, set.spelling() + ": frozen " + p.name() + " changed");
                    else if (!same) changed++;
                }
                if (set instanceof TrainableSet.Lora) {
                    for (ParameterInfo p : trainable) assertFalse(isZero(b.readParameter(p.name())), p.name() + " should have trained");
                } else {
                    assertEquals(trainable.size(), changed, set.spelling() + ": every trainable tensor should have changed");
                }
                if (set instanceof TrainableSet.Gates) {
                    for (String n : names) assertTrue(n.contains("f_proj") || n.contains("g_norm"), "gates holds " + n);
                }
                if (set instanceof TrainableSet.Attention) {
                    for (String n : names) assertTrue(n.contains(".attn."), "attention holds " + n);
                }
                if (set instanceof TrainableSet.All) assertEquals(b.parameters().size(), names.size());
                b.mergeLora();
            }
        }
    }

    @Test
    void loraStartsNeutralAndMergesIntoTheSameFunction() {
        try (TrainingBackend b = open()) {
            TokenBatch probe = batch(b.vocabSize(), 2, 77);
            double base = b.evaluate(DISTILL, probe).loss();
            List<ParameterInfo> adapters = b.setTrainable(new TrainableSet.Lora(loraRank(), 2.0 * loraRank()), 11);
            assertEquals(base, b.evaluate(DISTILL, probe).loss(), 1e-7 * Math.abs(base), "B = 0: adapters change nothing at first");
            for (ParameterInfo a : adapters) assertTrue(a.rank() == 2, a.toString());
            for (int s = 1; s <= 3; s++) {
                b.forwardBackward(DISTILL, batch(b.vocabSize(), 2, 90 + s), 0.05, true);
                b.optimizerStep(new AdamWStep(s, 0.02, 0.9, 0.95, 1e-8, 0.0, 1.0));
            }
            double adapted = b.evaluate(DISTILL, probe).loss();
            assertTrue(Math.abs(adapted - base) > 1e-6 * Math.abs(base), "training the adapters should change the model");
            Map<String, float[]> factors = b.loraFactors();
            assertEquals(adapters.stream().map(ParameterInfo::name).sorted().toList(), factors.keySet().stream().sorted().toList(),
                    "loraFactors names every adapter");
            for (ParameterInfo a : adapters) assertArrayEquals(b.readParameter(a.name()), factors.get(a.name()), a.name());
            String stem = adapters.getFirst().name().replace(".lora_A.weight", "").replace(".lora_B.weight", "");
            float[] before = b.readParameter(stem + ".weight");
            b.mergeLora();
            double merged = b.evaluate(DISTILL, probe).loss();
            assertEquals(adapted, merged, mergeTolerance() * Math.abs(adapted), "merging must not change the function");
            assertTrue(b.loraFactors().isEmpty(), "no adapters after the merge");
            // W_merged = W + (α/R)·B·A, with the factors as loraFactors gave them (what a PEFT adapter holds).
            float[] after = b.readParameter(stem + ".weight"), A = factors.get(stem + ".lora_A.weight"), B = factors.get(stem + ".lora_B.weight");
            int r = loraRank(), in = A.length / r, out = B.length / r;
            double worst = 0, scale = 2.0, largest = 0;
            for (float w : after) largest = Math.max(largest, Math.abs(w));
            for (int i = 0; i < out; i++) {
                for (int j = 0; j < in; j++) {
                    double d = 0;
                    for (int k = 0; k < r; k++) d += (double) B[i * r + k] * A[k * in + j];
                    worst = Math.max(worst, Math.abs(before[i * in + j] + scale * d - after[i * in + j]));
                }
            }
            assertTrue(worst <= 1e-5 * (1 + largest), stem + ": merged weight differs from W + (α/R)·B·A by " + worst);
            assertThrows(RuntimeException.class, () -> b.readGradient(adapters.getFirst().name()));
        }
    }

    // ------------------------------------------------------------------ determinism and state

    /** Optimizer steps {@code from..to} of a distill stage, two micro-batches each, clipped to norm 1. */
    private void train(TrainingBackend b, int from, int to) {
        for (int s = from; s <= to; s++) {
            for (int j = 0; j < 2; j++) b.forwardBackward(DISTILL, batch(b.vocabSize(), 2, 1000L * s + j), 0.5 / (2 * sequenceLength()), true);
            b.optimizerStep(new AdamWStep(s, 0.01, 0.9, 0.95, 1e-8, 0.1, Math.min(1, 1.0 / (b.gradientNorm() + 1e-6))));
        }
    }

    @Test
    void sameCallsGiveTheSameBits() {
        try (TrainingBackend a = open(); TrainingBackend b = open()) {
            for (TrainingBackend x : List.of(a, b)) {
                x.setTrainable(new TrainableSet.All(), 3);
                train(x, 1, 2);
                x.setTrainable(new TrainableSet.Lora(loraRank(), 3), 4);
                train(x, 1, 2);
                x.mergeLora();
            }
            for (ParameterInfo p : a.parameters()) assertArrayEquals(a.readParameter(p.name()), b.readParameter(p.name()), p.name());
        }
    }

    @Test
    void stateRoundTripContinuesBitExactly() throws Exception {
        for (TrainableSet set : List.of(new TrainableSet.All(), new TrainableSet.Lora(loraRank(), 3))) {
            Path file = scratch.resolve("state-" + set.spelling().replace(':', '-') + ".safetensors");
            try (TrainingBackend a = open()) {
                a.setTrainable(new TrainableSet.Gates(), 6);     // an earlier stage changed some weights
                train(a, 1, 2);
                a.setTrainable(set, 7);
                train(a, 1, 3);
                writeState(a, file);
                try (TrainingBackend b = open(); SafeTensors st = SafeTensors.open(file)) {
                    b.setTrainable(set, 7);
                    b.readState(st);
                    train(a, 4, 6);
                    train(b, 4, 6);
                    a.mergeLora();
                    b.mergeLora();
                    for (ParameterInfo p : a.parameters()) {
                        assertArrayEquals(a.readParameter(p.name()), b.readParameter(p.name()), set.spelling() + ": " + p.name());
                    }
                    TokenBatch probe = batch(a.vocabSize(), 1, 3);
                    assertEquals(a.evaluate(DISTILL, probe).loss(), b.evaluate(DISTILL, probe).loss(), 0.0);
                }
            }
        }
    }

    private static void writeState(TrainingBackend b, Path file) {
        Map<String, String> metadata = new java.util.LinkedHashMap<>(b.stateMetadata());
        metadata.put("format", "pt");
        try (TensorWriter w = SafeTensorsWriter.create(file, b.stateSpecs(), metadata)) {
            b.writeState(w);
            w.commit();
        }
    }

    @Test
    void stateHoldsWhatTrainedAndRefusesAnotherBase() throws Exception {
        Path file = scratch.resolve("lean.safetensors"), other = scratch.resolve("other-student");
        Files.createDirectories(other);
        try (TrainingBackend a = open()) {
            Set<String> gates = new HashSet<>();
            for (ParameterInfo p : a.setTrainable(new TrainableSet.Gates(), 6)) gates.add(p.name());
            train(a, 1, 2);
            Set<String> params = new HashSet<>();
            for (var spec : a.stateSpecs()) if (spec.name().startsWith(StateNames.PARAM)) params.add(spec.name().substring(StateNames.PARAM.length()));
            assertEquals(gates, params, "the state holds the tensors that trained, and only those");
            assertTrue(a.stateMetadata().containsKey(StateNames.BASE_FINGERPRINT));
            writeState(a, file);
            a.saveStudent(other, DType.F32);
        }
        try (TrainingBackend b = open(other); SafeTensors st = SafeTensors.open(file)) {
            b.setTrainable(new TrainableSet.Gates(), 6);
            gsat2r.core.T2rException e = assertThrows(gsat2r.core.T2rException.class, () -> b.readState(st));
            assertTrue(e.getMessage().contains("another student"), e.getMessage());
        }
    }

    @Test
    void savedStudentReopensAsTheSameModel() throws Exception {
        Path dir = scratch.resolve("saved");
        Files.createDirectories(dir);
        try (TrainingBackend a = open()) {
            a.setTrainable(new TrainableSet.Lora(loraRank(), 3), 1);
            train(a, 1, 2);
            assertThrows(IllegalStateException.class, () -> a.saveStudent(dir, DType.F32), "saving with unmerged adapters must fail");
            a.mergeLora();
            a.saveStudent(dir, DType.F32);
            assertTrue(Files.isRegularFile(dir.resolve("config.json")));
            try (TrainingBackend b = open(dir)) {
                for (ParameterInfo p : a.parameters()) assertArrayEquals(a.readParameter(p.name()), b.readParameter(p.name()), p.name());
                TokenBatch probe = batch(a.vocabSize(), 2, 4);
                assertEquals(a.evaluate(DISTILL, probe).loss(), b.evaluate(DISTILL, probe).loss(), 0.0);
            }
        }
    }

    private static boolean isZero(float[] x) {
        for (float v : x) if (v != 0) return false;
        return true;
    }

    private static void assertClose(String what, float[] a, float[] b, double tol) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
            den += (double) a[i] * a[i];
        }
        double rel = den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
        assertTrue(rel <= tol, what + ": relative L2 difference " + rel + " > " + tol);
    }
}
