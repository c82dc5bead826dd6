package gsat2r.cputrain;

import gsat2r.converter.GateInit;
import gsat2r.core.T2rException;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.training.BackendRequest;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the contract cannot see: that the losses are the documented definitions (recomputed here in
 * float64 from the models' own single-sequence forwards), that attention transfer compares the right
 * tensors (a layer kept as attention reproduces the teacher's attention output from the teacher's
 * residual), that recomputing activations changes no bit, and that mismatched models are refused.
 */
class CpuGsaBackendTest {

    @TempDir
    static Path models;
    static Path mistral, hybrid, hybrid1, llama, llamaStudent;

    @BeforeAll
    static void models() {
        mistral = TinyStudents.mistralTeacher(models.resolve("mistral"));
        hybrid = TinyStudents.convert(mistral, models.resolve("hybrid"), 16, GateInit.RANDOM, List.of(0));
        hybrid1 = TinyStudents.convert(mistral, models.resolve("hybrid1"), 16, GateInit.RANDOM, List.of(1));
        llama = TinyStudents.llamaTeacher(models.resolve("llama"));
        llamaStudent = TinyStudents.convert(llama, models.resolve("llama-student"), 8, GateInit.RANDOM, List.of());
    }

    static CpuGsaBackend open(Path teacher, Path student, boolean recompute) {
        return CpuGsaBackend.open(BackendRequest.single(gsat2r.core.model.ModelDirectory.open(teacher), gsat2r.core.model.ModelDirectory.open(student), gsat2r.core.model.Precision.FP32, 2, 24, recompute));
    }

    static TokenBatch batch(int vocab, int rows, int T, long seed) {
        SplitMix64 rng = new SplitMix64(seed);
        int[] tokens = new int[rows * (T + 1)];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(vocab);
        return new TokenBatch(rows, T, tokens);
    }

    @Test
    void attentionTransferComparesTheStudentLayerOnTheTeachersResidualWithTheTeachersAttentionOutput() {
        // A layer kept as attention is the teacher's layer: run on attn_norm(teacher residual) it must give
        // the teacher's attention output (sliding window 16 < T = 24). Layer 0 of one student, layer 1 of another.
        LlamaModel teacher = LlamaModel.load(mistral);
        int[] ids = batch(teacher.vocabSize(), 1, 24, 3).inputs(0);
        LlamaModel.Trace trace = teacher.trace(ids);
        for (int l = 0; l < 2; l++) {
            GsaModel student = GsaModel.load(l == 0 ? hybrid : hybrid1);
            assertArrayEquals(teacher.weights().layers().get(l).inputNorm(), student.tensor("model.layers." + l + ".attn_norm.weight"),
                    "attn_norm is the teacher's input_layernorm");
            float[] y = student.layerForward(l, student.attnNorm(l, trace.residuals()[l], ids.length), 1, ids.length).out();
            double rel = relativeL2(y, trace.attentionOutputs()[l]);
            assertTrue(rel < 1e-6, "layer " + l + ": relative L2 error " + rel);
        }
        assertEquals(teacher.config().rmsNormEps(), GsaModel.load(hybrid).config().normEps(), 0.0);
    }

    @Test
    void attentionTransferLossIsTheMeanSquaredErrorOfEveryGsaLayer() {
        TokenBatch b = batch(384, 2, 24, 5);
        LlamaModel teacher = LlamaModel.load(mistral);
        GsaModel student = GsaModel.load(hybrid);
        double expected = 0;
        for (int s = 0; s < 2; s++) {
            int[] ids = b.inputs(s);
            LlamaModel.Trace trace = teacher.trace(ids);
            float[] y = student.layerForward(1, student.attnNorm(1, trace.residuals()[1], 24), 1, 24).out();
            float[] a = trace.attentionOutputs()[1];
            for (int p = 0; p < 24; p++) {
                double e = 0;
                for (int j = 0; j < 96; j++) e += Math.pow((double) y[p * 96 + j] - a[p * 96 + j], 2);
                expected += e / 96;
            }
        }
        try (CpuGsaBackend backend = open(mistral, hybrid, false)) {
            LossSums sums = backend.evaluate(new Objective.AttentionTransfer(), b);
            assertEquals(List.of("loss", "mse.1"), List.copyOf(sums.sums().keySet()), "layer 0 is attention: no term");
            assertEquals(expected, sums.sum("mse.1"), 1e-6 * expected);
            assertEquals(sums.loss(), sums.sum("mse.1"), 0.0);
            assertTrue(expected > 1e-3, "the converted GSA layer is not yet the teacher's attention: " + expected);
        }
    }

    @Test
    void distillAndCrossEntropyAreTheDocumentedDefinitions() {
        double tau = 2.0, w = 0.3;
        TokenBatch b = batch(384, 2, 24, 9);
        LlamaModel teacher = LlamaModel.load(mistral);
        GsaModel student = GsaModel.load(hybrid);
        double kl = 0, ce = 0, top1 = 0;
        for (int s = 0; s < 2; s++) {
            float[][] zt = teacher.forward(b.inputs(s)), zs = student.forward(b.inputs(s));
            int[] targets = b.targets(s);
            for (int p = 0; p < 24; p++) {
                double[] logP = logSoftmax(zt[p], tau), logQ = logSoftmax(zs[p], tau), logQ1 = logSoftmax(zs[p], 1);
                for (int j = 0; j < 384; j++) kl += Math.exp(logP[j]) * (logP[j] - logQ[j]);
                ce -= logQ1[targets[p]];
                if (argmax(zt[p]) == argmax(zs[p])) top1++;
            }
        }
        try (CpuGsaBackend backend = open(mistral, hybrid, false)) {
            LossSums d = backend.evaluate(new Objective.Distill(tau, w), b);
            assertEquals(List.of("loss", "kl", "ce", "top1"), List.copyOf(d.sums().keySet()));
            assertEquals(kl, d.sum("kl"), 1e-5 * kl);
            assertEquals(ce, d.sum("ce"), 1e-6 * ce);
            assertEquals(top1, d.sum("top1"), 0.0);
            assertEquals((1 - w) * tau * tau * kl + w * ce, d.loss(), 1e-5 * d.loss());
            LossSums lm = backend.evaluate(new Objective.LanguageModeling(), b);
            assertEquals(List.of("loss", "ce"), List.copyOf(lm.sums().keySet()));
            assertEquals(ce, lm.loss(), 1e-6 * ce);
        }
    }

    @Test
    void recomputingActivationsChangesNoBit() {
        TokenBatch b = batch(256, 2, 24, 11);
        try (CpuGsaBackend keep = open(llama, llamaStudent, false); CpuGsaBackend recompute = open(llama, llamaStudent, true)) {
            List<ParameterInfo> params = keep.setTrainable(new TrainableSet.All(), 1);
            recompute.setTrainable(new TrainableSet.All(), 1);
            for (Objective o : List.of(new Objective.Distill(1.5, 0.2), new Objective.LanguageModeling())) {
                assertEquals(keep.forwardBackward(o, b, 0.01, true).loss(), recompute.forwardBackward(o, b, 0.01, true).loss(), 0.0);
            }
            for (ParameterInfo p : params) assertArrayEquals(keep.readGradient(p.name()), recompute.readGradient(p.name()), p.name());
        }
    }

    @Test
    void attentionTransferRefusesTensorsOutsideTheGsaLayers() {
        try (CpuGsaBackend b = open(mistral, hybrid, false)) {
            b.setTrainable(new TrainableSet.All(), 1);
            var e = assertThrows(IllegalStateException.class, () -> b.forwardBackward(new Objective.AttentionTransfer(), batch(384, 1, 8, 1), 1, true));
            assertTrue(e.getMessage().contains("GSA-layer tensors only"), e.getMessage());
        }
    }

    @Test
    void aStudentOfAnotherTeacherIsRefused() {
        var e = assertThrows(T2rException.class, () -> open(llama, hybrid, false));
        assertEquals(hybrid.resolve("config.json") + ": this student does not fit the teacher " + llama
                + " (vocabulary 384 vs the teacher's 256)", e.getMessage());
    }

    @Test
    void withoutTheTeacherOnlyFineTuningRuns() {
        try (CpuGsaBackend b = CpuGsaBackend.open(BackendRequest.single(null, gsat2r.core.model.ModelDirectory.open(hybrid), gsat2r.core.model.Precision.FP32, 2, 8, false))) {
            b.setTrainable(new TrainableSet.All(), 1);
            assertTrue(b.forwardBackward(new Objective.LanguageModeling(), batch(384, 1, 8, 2), 1, true).loss() > 0);
            assertThrows(IllegalStateException.class, () -> b.evaluate(new Objective.Distill(1, 0), batch(384, 1, 8, 2)));
        }
    }

    static double[] logSoftmax(float[] z, double tau) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : z) max = Math.max(max, x / tau);
        double sum = 0;
        for (float x : z) sum += Math.exp(x / tau - max);
        double lse = max + Math.log(sum);
        double[] out = new double[z.length];
        for (int j = 0; j < z.length; j++) out[j] = z[j] / tau - lse;
        return out;
    }

    static int argmax(float[] z) {
        int best = 0;
        for (int j = 1; j < z.length; j++) if (z[j] > z[best]) best = j;
        return best;
    }

    static double relativeL2(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += Math.pow((double) a[i] - b[i], 2);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }
}
