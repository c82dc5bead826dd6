package gsat2r.cputrain;

import gsat2r.converter.GateInit;
import gsat2r.training.BackendRequest;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.distributed.BucketPlan;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.cputrain.HostDataParallel;
import gsat2r.training.distributed.LocalGroup;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.finetune.distributed.Ranks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU backend as a data-parallel rank, below the trainer: its gradient buckets are reduced while its
 * backward is still running (the student reports each block whose gradients are final), and the result
 * does not depend on the bucket size; it equals one process's accumulation of the ranks' batches.
 */
class DataParallelBackendTest {

    @TempDir
    static Path root;
    static Path teacher, student;

    @BeforeAll
    static void models() {
        teacher = TinyStudents.mistralTeacher(root.resolve("teacher"));
        student = TinyStudents.convert(teacher, root.resolve("student"), 8, GateInit.KEY_POOL, List.of());
    }

    static TokenBatch batch(int seed, int rows, int T) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] t = new int[rows * (T + 1)];
        for (int i = 0; i < t.length; i++) t[i] = rnd.nextInt(384);
        return new TokenBatch(rows, T, t);
    }

    static CpuGsaBackend open() {
        return CpuGsaBackend.open(BackendRequest.single(gsat2r.core.model.ModelDirectory.open(teacher), gsat2r.core.model.ModelDirectory.open(student), gsat2r.core.model.Precision.FP32, 2, 12, false));
    }

    /** A rank of {@code g}, gradients in buckets of {@code capBytes}. */
    static CpuGsaBackend open(ProcessGroup g, long capBytes) {
        return CpuGsaBackend.open(new BackendRequest(gsat2r.core.model.ModelDirectory.open(teacher), gsat2r.core.model.ModelDirectory.open(student),
                gsat2r.core.model.Precision.FP32, 2, 12, false, g, new DataParallelOptions(capBytes, 64), 0));
    }

    record RankResult(List<float[]> grads, int[] watermarks, int buckets, double norm) {}

    /** Two ranks, each one micro-batch of distillation on every parameter, buckets of {@code capBytes}. */
    static List<RankResult> twoRanks(long capBytes) {
        Objective kd = new Objective.Distill(2.0, 0.25);
        List<ProcessGroup> groups = LocalGroup.create(2);
        try {
            return Ranks.run(groups, g -> {
                try (CpuGsaBackend b = open(g, capBytes)) {
                    List<ParameterInfo> trainable = b.setTrainable(new TrainableSet.All(), 1);
                    b.forwardBackward(kd, batch(100 + g.rank(), 2, 12), 1.0 / 48, true);
                    HostDataParallel.Reduction r = b.dataParallel().pendingReduction();
                    int[] marks = r.launchWatermarks();
                    double norm = b.gradientNorm();
                    List<float[]> grads = new ArrayList<>();
                    for (ParameterInfo p : trainable) grads.add(b.readGradient(p.name()));
                    return new RankResult(grads, marks, b.dataParallel().plan().buckets().size(), norm);
                }
            });
        } finally {
            Ranks.closeAll(groups);
        }
    }

    @Test
    void bucketsAreReducedDuringTheBackwardAndTheSumDoesNotDependOnTheirSize() {
        List<RankResult> small = twoRanks(16 << 10), one = twoRanks(1L << 30);
        RankResult s = small.get(0);
        assertTrue(s.buckets() >= 6, "16 KiB buckets: " + s.buckets());
        assertEquals(1, one.get(0).buckets());
        // Bucket 0 (the head) went out while the backward still had the whole model below it to do; the
        // watermarks never rise (buckets go out in plan order), and only the last buckets wait for the end.
        assertTrue(s.watermarks()[0] > 0, "bucket 0 launched during the backward: " + java.util.Arrays.toString(s.watermarks()));
        int during = 0;
        for (int k = 0; k < s.watermarks().length; k++) {
            if (s.watermarks()[k] >= 0) during++;
            if (k > 0 && s.watermarks()[k] >= 0) assertTrue(s.watermarks()[k] <= s.watermarks()[k - 1]);
        }
        assertTrue(during >= s.buckets() - 1, "all but the embeddings' bucket launched before the backward ended: " + during);
        for (int r = 0; r < 2; r++) {
            for (int t = 0; t < s.grads().size(); t++) {
                assertArrayEquals(one.get(r).grads().get(t), small.get(r).grads().get(t), "tensor " + t + " on rank " + r);
                assertArrayEquals(small.get(0).grads().get(t), small.get(r).grads().get(t), "both ranks hold the sum");
            }
            assertEquals(one.get(0).norm(), small.get(r).norm());
        }
        // One process accumulating the two ranks' batches: the same gradients up to the order of additions
        // inside the embeddings (tokens repeat) -- compared to rounding.
        try (CpuGsaBackend b = open()) {
            List<ParameterInfo> trainable = b.setTrainable(new TrainableSet.All(), 1);
            Objective kd = new Objective.Distill(2.0, 0.25);
            b.forwardBackward(kd, batch(100, 2, 12), 1.0 / 48, false);
            b.forwardBackward(kd, batch(101, 2, 12), 1.0 / 48, true);
            double worst = 0;
            for (int t = 0; t < trainable.size(); t++) {
                float[] ref = b.readGradient(trainable.get(t).name()), got = s.grads().get(t);
                double num = 0, den = 0;
                for (int i = 0; i < ref.length; i++) {
                    num += (ref[i] - got[i]) * (double) (ref[i] - got[i]);
                    den += ref[i] * (double) ref[i];
                }
                worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-300)));
            }
            System.out.printf("DP gradient vs one process accumulating both batches: worst relative L2 error per tensor %.3g%n", worst);
            assertTrue(worst < 1e-6, "to rounding: " + worst);
            assertEquals(b.gradientNorm(), s.norm(), 1e-6 * s.norm());
        }
    }

    @Test
    void aBucketIsCompleteOnlyWhenItsLowestTensorIs() {
        // The watermark protocol: a bucket whose first tensor is below the watermark must not go out.
        // The engine alone, on a group of one (a backend takes a group of one as a single process).
        List<ProcessGroup> groups = LocalGroup.create(1);
        try (CpuGsaBackend b = open()) {
            b.setTrainable(new TrainableSet.All(), 1);
            HostDataParallel dp = new HostDataParallel(groups.get(0), new DataParallelOptions(16 << 10, 64));
            List<HostDataParallel.Tensor> tensors = new ArrayList<>();
            for (var v : b.student().layout().views()) {
                tensors.add(new HostDataParallel.Tensor(new ParameterInfo(v.name(), v.shape()), b.student().parameters(), b.student().gradients(),
                        v.arrayOffset()));
            }
            dp.setTrainable(tensors);
            BucketPlan plan = dp.plan();
            HostDataParallel.Reduction r = dp.startReduction();
            BucketPlan.Bucket second = plan.buckets().get(1);
            r.gradientsFinalFrom(second.firstTensor() + 1);
            int[] marks = r.launchWatermarks();
            assertEquals(second.firstTensor() + 1, marks[0]);
            assertEquals(HostDataParallel.NOT_LAUNCHED, marks[1], "bucket 1 must wait for its first tensor");
            r.gradientsFinalFrom(second.firstTensor());
            assertEquals(second.firstTensor(), r.launchWatermarks()[1]);
            dp.gradientNorm();
        } finally {
            Ranks.closeAll(groups);
        }
    }
}
