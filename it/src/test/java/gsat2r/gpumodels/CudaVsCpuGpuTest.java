package gsat2r.gpumodels;

import gsat2r.core.model.Precision;
import gsat2r.converter.GateInit;
import gsat2r.core.data.SplitMix64;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendRequest;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.TrainingBackend;
import gsat2r.cputrain.CpuGsaBackend;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The CUDA backend against the CPU backend (the fp32 reference, itself checked against finite
 * differences and transformers/fla) on the same students and batches, for every objective: loss terms,
 * the gradients of every trainable tensor (relative L2 over all of them, and the worst tensor), the
 * gradient norm, and in fp32 the parameters after an AdamW step. Tolerances: fp32 1e-4, bf16 2e-2.
 * Batches of 3 × 100 tokens cross a 64-token GSA chunk border. Also: the bf16 backend gives the same
 * bits twice.
 */
@Tag("gpu")
class CudaVsCpuGpuTest {

    @TempDir
    static Path models;
    static Path llama, llamaStudent, mistral, hybridStudent, convStudent, kvStudent;

    @BeforeAll
    static void models() {
        llama = TestModels.kjvTeacher();
        llamaStudent = TestModels.student(llama, models.resolve("student"), 64, GateInit.RANDOM, List.of());
        mistral = TestModels.mistralTeacher(models.resolve("mistral"), 48);
        hybridStudent = TestModels.student(mistral, models.resolve("hybrid"), 32, GateInit.KEY_POOL, List.of(1));
        convStudent = TestModels.convStudent(llama, models.resolve("conv"), 32, 4);
        kvStudent = TestModels.kvHeadsStudent(llama, models.resolve("kv4"), 32, 4);
    }

    static final Objective AT = new Objective.AttentionTransfer();
    static final Objective AT_OWN = new Objective.AttentionTransfer(Objective.HiddenStates.STUDENT);
    static final Objective DISTILL = new Objective.Distill(2.0, 0.3);
    static final Objective KL_ONLY = new Objective.Distill(1.0, 0.0);
    static final Objective LM = new Objective.LanguageModeling();

    record Case(String name, Path teacher, Path student, Objective objective, TrainableSet set) {}

    /** The cases run twice in bf16 for the same bits: GSA layers alone, with short convolutions, with kv heads of their own. */
    static final List<String> SAME_BITS = List.of("llama at(student states)/attention", "short conv distill(2,0.3)/all",
            "kv copies distill(2,0.3)/all");

    static List<Case> cases() {
        return List.of(
                new Case("llama at/attention", llama, llamaStudent, AT, new TrainableSet.Attention()),
                new Case("llama at(student states)/attention", llama, llamaStudent, AT_OWN, new TrainableSet.Attention()),
                new Case("llama distill(2,0.3)/all", llama, llamaStudent, DISTILL, new TrainableSet.All()),
                new Case("llama kl/all", llama, llamaStudent, KL_ONLY, new TrainableSet.All()),
                new Case("llama finetune/all", llama, llamaStudent, LM, new TrainableSet.All()),
                new Case("llama distill/gates", llama, llamaStudent, DISTILL, new TrainableSet.Gates()),
                new Case("hybrid at/attention", mistral, hybridStudent, AT, new TrainableSet.Attention()),
                new Case("hybrid distill(2,0.3)/all", mistral, hybridStudent, DISTILL, new TrainableSet.All()),
                new Case("llama distill/lora:4", llama, llamaStudent, DISTILL, new TrainableSet.Lora(4, 8)),
                new Case("short conv at/attention", llama, convStudent, AT, new TrainableSet.Attention()),
                new Case("short conv at(student states)/attention", llama, convStudent, AT_OWN, new TrainableSet.Attention()),
                new Case("short conv distill(2,0.3)/all", llama, convStudent, DISTILL, new TrainableSet.All()),
                new Case("kv copies at/attention", llama, kvStudent, AT, new TrainableSet.Attention()),
                new Case("kv copies distill(2,0.3)/all", llama, kvStudent, DISTILL, new TrainableSet.All()));
    }

    static TokenBatch batch(int vocab, int rows, int T, long seed) {
        SplitMix64 rng = new SplitMix64(seed);
        int[] tokens = new int[rows * (T + 1)];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(vocab);
        return new TokenBatch(rows, T, tokens);
    }

    static BackendRequest request(Case c) {
        return request(c, gsat2r.core.model.Precision.FP32);
    }

    static BackendRequest request(Case c, gsat2r.core.model.Precision p) {
        return BackendRequest.single(gsat2r.core.model.ModelDirectory.open(c.teacher()), gsat2r.core.model.ModelDirectory.open(c.student()), p, 3, 100, false);
    }

    @Test
    void fp32AgreesWithTheCpuBackendTo1eMinus4() {
        compareAll(Precision.FP32, 1e-4);
    }

    @Test
    void bf16AgreesWithTheCpuBackendTo2eMinus2() {
        compareAll(Precision.BF16, 2e-2);
    }

    private void compareAll(Precision precision, double tol) {
        List<String> failures = new ArrayList<>();
        for (Case c : cases()) {
            try {
                compare(c, precision, tol);
            } catch (AssertionError e) {
                failures.add(e.getMessage());
            }
        }
        if (!failures.isEmpty()) fail(String.join("\n", failures));
    }

    private void compare(Case c, Precision precision, double tol) {
        String tag = precision + " " + c.name();
        TokenBatch batch = batch(4096, 3, 100, 11);
        double scale = 1.0 / batch.positions();
        try (TrainingBackend cpu = CpuGsaBackend.open(request(c)); TrainingBackend gpu = CudaGsaBackend.open(request(c, precision))) {
            List<ParameterInfo> params = cpu.setTrainable(c.set(), 3);
            assertEquals(params, gpu.setTrainable(c.set(), 3), tag + ": trainable tensors");
            if (c.set() instanceof TrainableSet.Lora) {          // B = 0 would leave A without gradient
                SplitMix64 rng = new SplitMix64(9);
                for (ParameterInfo p : params) {
                    float[] x = cpu.readParameter(p.name());
                    for (int i = 0; i < x.length; i++) x[i] = (float) (0.05 * rng.nextGaussian());
                    cpu.writeParameter(p.name(), x);
                    gpu.writeParameter(p.name(), x);
                }
            }
            LossSums sc = cpu.forwardBackward(c.objective(), batch, scale, true), sg = gpu.forwardBackward(c.objective(), batch, scale, true);
            assertEquals(sc.sums().keySet(), sg.sums().keySet(), tag + ": terms");
            for (Map.Entry<String, Double> e : sc.sums().entrySet()) {
                double ref = e.getValue(), got = sg.sum(e.getKey());
                double err = Math.abs(got - ref) / Math.max(Math.abs(ref), 1e-12);
                metric(tag + " loss." + e.getKey(), err, tol);
                assertTrue(err <= tol, tag + " " + e.getKey() + ": " + got + " vs CPU " + ref + " (relative " + err + ")");
            }
            double num = 0, den = 0, worst = 0;
            String worstName = "";
            for (ParameterInfo p : params) {
                float[] a = gpu.readGradient(p.name()), b = cpu.readGradient(p.name());
                double n1 = 0, d1 = 0;
                for (int i = 0; i < a.length; i++) {
                    double diff = (double) a[i] - b[i];
                    n1 += diff * diff;
                    d1 += (double) b[i] * b[i];
                }
                num += n1;
                den += d1;
                double rel = d1 == 0 ? Math.sqrt(n1) : Math.sqrt(n1 / d1);
                // The small convolution kernels weigh little in the sum over all tensors, so each is checked alone. Their
                // gradient sums products over every position of the batch, which cancel: its relative error runs about
                // three times the other tensors' in either precision, and bf16's rounding of the activations alone
                // reaches the shared tolerance. A wrong tap or row is off by order one.
                if (p.name().endsWith("_conv1d.weight")) {
                    double convTol = precision == Precision.BF16 ? 2.5 * tol : tol;
                    metric(tag + " conv_grad." + p.name(), rel, convTol);
                    assertTrue(rel <= convTol, tag + ": " + p.name() + " gradient differs by " + rel);
                }
                if (rel > worst) {
                    worst = rel;
                    worstName = p.name();
                }
            }
            double all = Math.sqrt(num / den);
            metric(tag + " grads", all, tol);
            System.out.printf("GPU-NOTE %s worst tensor %s %.3e%n", tag, worstName, worst);
            assertTrue(all <= tol, tag + ": gradients differ by " + all + " (relative L2; worst tensor " + worstName + " " + worst + ")");
            double nc = cpu.gradientNorm(), ng = gpu.gradientNorm();
            metric(tag + " grad_norm", Math.abs(ng - nc) / nc, tol);
            assertEquals(nc, ng, tol * nc, tag + ": gradient norm");

            LossSums ec = cpu.evaluate(c.objective(), batch), eg = gpu.evaluate(c.objective(), batch);
            for (Map.Entry<String, Double> e : ec.sums().entrySet()) {
                if (e.getKey().equals("top1")) {
                    System.out.printf("GPU-NOTE %s top1 cpu %.0f gpu %.0f of %d%n", tag, e.getValue(), eg.sum("top1"), batch.positions());
                    continue;
                }
                double err = Math.abs(eg.sum(e.getKey()) - e.getValue()) / Math.max(Math.abs(e.getValue()), 1e-12);
                assertTrue(err <= tol, tag + " evaluate " + e.getKey() + ": relative " + err);
            }
            if (precision == Precision.FP32) {
                AdamWStep step = new AdamWStep(1, 1e-3, 0.9, 0.95, 1e-8, 0.1, Math.min(1, 1.0 / (nc + 1e-6)), 10.0);   // convolutions at 10x
                Map<String, float[]> before = new java.util.HashMap<>();
                for (ParameterInfo p : params) before.put(p.name(), cpu.readParameter(p.name()));
                cpu.optimizerStep(step);
                gpu.optimizerStep(step);
                double un = 0, ud = 0;
                for (ParameterInfo p : params) {
                    float[] a = gpu.readParameter(p.name()), b = cpu.readParameter(p.name()), p0 = before.get(p.name());
                    for (int i = 0; i < a.length; i++) {
                        double diff = (double) a[i] - b[i], upd = (double) b[i] - p0[i];
                        un += diff * diff;
                        ud += upd * upd;
                    }
                }
                double err = Math.sqrt(un / ud);
                metric(tag + " adamw_update", err, 1e-2);
                // AdamW's first step is lr·sign(g) wherever |g| ≫ ε: an element whose tiny gradient differs in sign flips its update
                assertTrue(err <= 1e-2, tag + ": AdamW updates differ by " + err + " (relative L2 of the updates)");
            }
        }
    }

    @Test
    void bf16GivesTheSameBitsTwice() {
        for (Case c : cases()) {
            if (SAME_BITS.contains(c.name())) sameBitsTwice(c);
        }
    }

    private void sameBitsTwice(Case c) {
        TokenBatch b1 = batch(4096, 3, 100, 21), b2 = batch(4096, 3, 100, 22);
        float[][] results = new float[2][];
        double[] losses = new double[2];
        for (int run = 0; run < 2; run++) {
            try (TrainingBackend gpu = CudaGsaBackend.open(request(c, Precision.BF16))) {
                List<ParameterInfo> params = gpu.setTrainable(new TrainableSet.All(), 1);
                for (int s = 1; s <= 2; s++) {
                    gpu.forwardBackward(DISTILL, b1, 1.0 / 600, false);
                    losses[run] = gpu.forwardBackward(DISTILL, b2, 1.0 / 600, true).loss();
                    gpu.optimizerStep(new AdamWStep(s, 1e-3, 0.9, 0.95, 1e-8, 0.1, Math.min(1, 1 / (gpu.gradientNorm() + 1e-6))));
                }
                losses[run] += gpu.evaluate(AT, b1).loss();
                List<Float> all = new ArrayList<>();
                for (ParameterInfo p : params) for (float x : gpu.readParameter(p.name())) all.add(x);
                results[run] = new float[all.size()];
                for (int i = 0; i < all.size(); i++) results[run][i] = all.get(i);
            }
        }
        assertEquals(losses[0], losses[1], 0.0, c.name() + ": loss");
        assertArrayEquals(results[0], results[1], c.name() + ": weights after two steps");
        System.out.println("GPU-METRIC bf16 rerun_bit_identical 0 0");
    }

    static void metric(String name, double err, double tol) {
        System.out.printf("GPU-METRIC %s %.3e %.0e%n", name.replace(' ', '_'), err, tol);
    }
}
