package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import gsat2r.core.cpu.LogitLosses;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Fused softmax cross-entropy and KL distillation loss (loss and logit gradient in one kernel) against core's
 * {@link LogitLosses}, row by row (its losses are evaluated in double, its gradients rounded once to fp32).
 */
class LossesGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(11);

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void crossEntropy(ElementType t) {
        Gpu g = gpu();
        for (int vocab : new int[] {8192, 1001, 32000}) {
            int rows = vocab == 32000 ? 16 : 257;
            float[] logits = stored(randn(RNG, rows * vocab, 3), t);
            int[] targets = RNG.ints(rows, 0, vocab).toArray();
            targets[3] = -1;
            targets[rows - 1] = -100;  // ignored rows (the usual ignore_index)
            int valid = 0;
            for (int tg : targets) if (tg >= 0) valid++;
            float scale = 1f / valid;
            float[] grad = new float[rows * vocab];
            double[] loss = new double[rows];
            for (int r = 0; r < rows; r++) {
                loss[r] = LogitLosses.crossEntropy(logits, r * vocab, 1, vocab, targets, r, grad, r * vocab, scale);
            }
            String tag = t + ".V" + vocab;
            try (DeviceBuffer lb = upload(logits, t); DeviceBuffer tb = g.upload(targets); DeviceBuffer lossB = poisoned(ElementType.F32, rows);
                 DeviceBuffer dl = poisoned(t, (long) rows * vocab); DeviceBuffer sum = g.i32(2)) {
                CrossEntropy.forwardBackward(g, lossB, dl, lb, tb, rows, vocab, scale);
                check("cross_entropy.loss." + tag, lossB.toFloatArray(), loss, F32_TOL);
                check("cross_entropy.dlogits." + tag, dl.toFloatArray(), grad, tol(t));
                Reduce.sumF64(g, sum, java.util.List.of(lossB), false);  // the backend's loss sum
                double total = 0;
                for (double l : loss) total += l;
                check("sum.losses." + tag, new float[] {(float) Reduce.readDoubles(sum)[0]}, new double[] {total}, F32_TOL);
                // Loss only, then in place (the gradient overwrites the logits).
                lossB.poison();
                CrossEntropy.forwardBackward(g, lossB, null, lb, tb, rows, vocab, scale);
                check("cross_entropy.loss_only." + tag, lossB.toFloatArray(), loss, F32_TOL);
                CrossEntropy.forwardBackward(g, lossB, lb, lb, tb, rows, vocab, scale);
                check("cross_entropy.inplace." + tag, lb.toFloatArray(), grad, tol(t));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void klDivergence(ElementType t) {
        Gpu g = gpu();
        for (int vocab : new int[] {8192, 999}) {
            int rows = 129;
            float temperature = 2f;
            float[] teacher = stored(randn(RNG, rows * vocab, 3), t);
            float[] student = new float[rows * vocab];
            for (int i = 0; i < student.length; i++) student[i] = teacher[i] + (float) RNG.nextGaussian();  // related, as in distillation
            student = stored(student, t);
            int[] mask = new int[rows];
            for (int r = 0; r < rows; r++) mask[r] = r % 10 == 3 ? 0 : 1;
            float scale = temperature * temperature / rows;
            float[] grad = new float[rows * vocab];
            double[] loss = new double[rows];
            for (int r = 0; r < rows; r++) {
                if (mask[r] == 0) continue;  // a masked row: no loss, no gradient
                loss[r] = LogitLosses.klDivergence(teacher, r * vocab, student, r * vocab, 1, vocab, temperature, grad, r * vocab, scale);
            }
            String tag = t + ".V" + vocab;
            try (DeviceBuffer sb = upload(student, t); DeviceBuffer tb = upload(teacher, t); DeviceBuffer mb = g.upload(mask);
                 DeviceBuffer lossB = poisoned(ElementType.F32, rows); DeviceBuffer ds = poisoned(t, (long) rows * vocab)) {
                KlDivergence.forwardBackward(g, lossB, ds, sb, tb, mb, rows, vocab, temperature, scale);
                float[] got = lossB.toFloatArray();
                for (int r = 0; r < rows; r++) assertTrue(mask[r] == 0 ? got[r] == 0 : got[r] > 0, "row " + r + " loss " + got[r]);
                check("kl.loss." + tag, got, loss, F32_TOL);
                check("kl.dstudent." + tag, ds.toFloatArray(), grad, tol(t));
                // Identical distributions: zero loss, zero gradient.
                KlDivergence.forwardBackward(g, lossB, ds, tb, tb, null, rows, vocab, temperature, scale);
                for (float l : lossB.toFloatArray()) assertTrue(Math.abs(l) < 1e-5, "KL(p||p) = " + l);
                KlDivergence.forwardBackward(g, lossB, sb, sb, tb, mb, rows, vocab, temperature, scale);
                check("kl.inplace." + tag, sb.toFloatArray(), grad, tol(t));
            }
        }
    }

    /** A NaN among the logits, or a target outside the vocabulary, must show up as a NaN loss, never as a plausible number. */
    @Test
    void badValuesAreLoud() {
        Gpu g = gpu();
        for (int vocab : new int[] {8192, 1001}) {
            int rows = 4;
            float[] logits = randn(RNG, rows * vocab, 1);
            logits[0 * vocab + 7] = Float.NaN;          // row 0: NaN first in its thread's slice
            logits[1 * vocab + vocab - 1] = Float.NaN;  // row 1: NaN last
            int[] targets = {1, 2, vocab, 3};           // row 2: target out of range; row 3 fine
            try (DeviceBuffer lb = upload(logits, ElementType.F32); DeviceBuffer tb = g.upload(targets);
                 DeviceBuffer loss = poisoned(ElementType.F32, rows); DeviceBuffer other = upload(randn(RNG, rows * vocab, 1), ElementType.F32)) {
                CrossEntropy.forwardBackward(g, loss, null, lb, tb, rows, vocab, 1f);
                float[] l = loss.toFloatArray();
                assertTrue(Float.isNaN(l[0]) && Float.isNaN(l[1]) && Float.isNaN(l[2]) && Float.isFinite(l[3]), java.util.Arrays.toString(l));
                KlDivergence.forwardBackward(g, loss, null, other, lb, null, rows, vocab, 1f, 1f);  // NaN in the teacher
                l = loss.toFloatArray();
                assertTrue(Float.isNaN(l[0]) && Float.isNaN(l[1]) && Float.isFinite(l[2]), java.util.Arrays.toString(l));
                KlDivergence.forwardBackward(g, loss, null, lb, other, null, rows, vocab, 1f, 1f);  // NaN in the student
                l = loss.toFloatArray();
                assertTrue(Float.isNaN(l[0]) && Float.isNaN(l[1]) && Float.isFinite(l[2]), java.util.Arrays.toString(l));
            }
        }
    }
}
