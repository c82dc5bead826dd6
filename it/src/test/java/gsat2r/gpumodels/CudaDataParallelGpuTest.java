package gsat2r.gpumodels;

import gsat2r.core.model.Precision;
import gsat2r.converter.GateInit;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.SafeTensorsWriter;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendRequest;
import gsat2r.core.model.ModelDirectory;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.distributed.BucketSchedule;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.training.distributed.LocalGroup;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.finetune.distributed.Ranks;
import gsat2r.gpu.cuda.Cuda;
import gsat2r.gpu.nccl.Nccl;
import gsat2r.gpumodels.TransportSelection.Request;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA backend as a data-parallel rank (docs/distributed.md), on the demo teacher's student:
 * <ol>
 * <li>2 ranks on ONE GPU (threads, host transport) with one micro-batch each = 1 rank accumulating the same 2
 *     micro-batches: losses, gradient norms and the weights after 3 AdamW steps (fp32 and bf16), buckets leaving
 *     during the backward;</li>
 * <li>a one-rank group over NCCL (the NCCL path: communication stream, events, sharded AdamW, all-gather) =
 *     no data parallelism, bit for bit in fp32;</li>
 * <li>a state written by 2 ranks (gathered moments) resumes in one process with the same continuation;</li>
 * <li>with 2 GPUs or more: one rank per GPU over NCCL, micro-batch 1 = one GPU with micro-batch N (bf16).</li>
 * </ol>
 * Prints {@code GPU-METRIC name value tolerance} lines for the check script's summary.
 */
@Tag("gpu")
class CudaDataParallelGpuTest {

    @TempDir
    static Path models;
    static Path teacher, student;

    @BeforeAll
    static void models() {
        teacher = TestModels.kjvTeacher();
        student = TestModels.student(teacher, models.resolve("student"), 32, GateInit.RANDOM, List.of());
    }

    static final Objective DISTILL = new Objective.Distill(1.0, 0.2);
    static final int T = 80;
    /** Small buckets, so that a step has many and the first leave while the backward runs. */
    static final DataParallelOptions OPTIONS = new DataParallelOptions(256 << 10, 64);

    /** Sequence {@code k} of step {@code step}: random ids, the same for every run of the test. */
    static int[] sequence(int step, int k) {
        SplitMix64 rng = new SplitMix64(1000L * step + k);
        int[] tokens = new int[T + 1];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(4096);
        return tokens;
    }

    /** Sequences {@code [first, first + count)} of step {@code step} as one micro-batch. */
    static TokenBatch batch(int step, int first, int count) {
        int[] tokens = new int[count * (T + 1)];
        for (int k = 0; k < count; k++) System.arraycopy(sequence(step, first + k), 0, tokens, k * (T + 1), T + 1);
        return new TokenBatch(count, T, tokens);
    }

    static AdamWStep adam(int step, double norm) {
        return new AdamWStep(step, 1e-3, 0.9, 0.95, 1e-8, 0.1, Math.min(1, 1.0 / (norm + 1e-6)));
    }

    static BackendRequest request(int micro, Precision p) {
        return BackendRequest.single(ModelDirectory.open(teacher), ModelDirectory.open(student), p, micro, T, false);
    }

    /** Rank {@code g.rank()} of a group on GPU {@code device}, gradients summed over {@code transport}. */
    static BackendRequest request(ProcessGroup g, int device, Precision p, Request transport) {
        return new BackendRequest(ModelDirectory.open(teacher), ModelDirectory.open(student), p, 1, T, false, g,
                OPTIONS.withTransport(transport.name().toLowerCase(java.util.Locale.ROOT)), device);
    }

    /** What a run produced: per step the loss of each micro-batch (or rank) and the gradient norm; the weights at the end. */
    record Outcome(List<List<Double>> losses, List<Double> norms, Map<String, float[]> weights, String transport) {}

    static Map<String, float[]> weights(CudaGsaBackend b) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (ParameterInfo p : b.parameters()) out.put(p.name(), b.readParameter(p.name()));
        return out;
    }

    /** Steps {@code [from, to]} in one process: {@code accum} micro-batches of {@code micro} sequences each. */
    static void trainSingle(CudaGsaBackend b, int from, int to, int micro, int accum, List<List<Double>> losses, List<Double> norms) {
        double scale = 1.0 / ((long) micro * accum * T);
        for (int s = from; s <= to; s++) {
            List<Double> l = new ArrayList<>();
            for (int j = 0; j < accum; j++) l.add(b.forwardBackward(DISTILL, batch(s, j * micro, micro), scale, j == accum - 1).loss());
            double norm = b.gradientNorm();
            b.optimizerStep(adam(s, norm));
            losses.add(l);
            norms.add(norm);
        }
    }

    static Outcome single(Precision p, int micro, int accum, int steps) {
        try (CudaGsaBackend b = CudaGsaBackend.open(request(micro, p))) {
            b.setTrainable(new TrainableSet.All(), 1);
            List<List<Double>> losses = new ArrayList<>();
            List<Double> norms = new ArrayList<>();
            trainSingle(b, 1, steps, micro, accum, losses, norms);
            return new Outcome(losses, norms, weights(b), null);
        }
    }

    /**
     * Steps {@code [from, to]} as rank {@code g.rank()} of a group, one micro-batch of {@code micro} sequences per rank and
     * step (rank r reads the step's sequences {@code [r·micro, (r+1)·micro)}); checks that bucket 0 left during the backward.
     */
    static void trainRank(CudaGsaBackend b, ProcessGroup g, int from, int to, int micro, List<List<Double>> losses, List<Double> norms) {
        double scale = 1.0 / ((long) micro * g.worldSize() * T);
        for (int s = from; s <= to; s++) {
            LossSums mine = b.forwardBackward(DISTILL, batch(s, g.rank() * micro, micro), scale, true);
            int[] marks = b.dataParallel().pendingReduction().launchWatermarks();
            assertTrue(marks.length > 1, "several buckets: " + marks.length);
            assertTrue(marks[0] != BucketSchedule.AT_THE_END && marks[0] != BucketSchedule.NOT_LAUNCHED,
                    "bucket 0 (the head) leaves during the backward, not after it");
            double norm = b.gradientNorm();
            b.optimizerStep(adam(s, norm));
            List<Double> all = new ArrayList<>();
            for (byte[] x : g.allGather(Double.toString(mine.loss()).getBytes())) all.add(Double.parseDouble(new String(x)));
            losses.add(all);
            norms.add(norm);
        }
    }

    static List<Outcome> ranks(Precision p, int world, boolean gpuPerRank, Request transport, int steps) {
        return Ranks.run(LocalGroup.create(world, Duration.ofSeconds(120)), g -> {
            try (CudaGsaBackend b = CudaGsaBackend.open(request(g, gpuPerRank ? g.rank() : 0, p, transport))) {
                b.setTrainable(new TrainableSet.All(), 1);
                List<List<Double>> losses = new ArrayList<>();
                List<Double> norms = new ArrayList<>();
                trainRank(b, g, 1, steps, 1, losses, norms);
                return new Outcome(losses, norms, weights(b), b.dataParallelTransport());
            }
        });
    }

    /** Largest relative L2 difference over the tensors; counts the bit-identical ones. */
    static double compareWeights(String what, Map<String, float[]> got, Map<String, float[]> want, double tol) {
        assertEquals(want.keySet(), got.keySet());
        double worst = 0;
        int identical = 0;
        for (var e : want.entrySet()) {
            float[] a = got.get(e.getKey()), b = e.getValue();
            double num = 0, den = 0;
            for (int i = 0; i < b.length; i++) {
                num += (double) (a[i] - b[i]) * (a[i] - b[i]);
                den += (double) b[i] * b[i];
            }
            if (num == 0) identical++;
            worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
        }
        CudaVsCpuGpuTest.metric(what + "_weights_rel_l2", worst, tol);
        System.out.println("GPU-INFO " + what + ": " + identical + " of " + want.size() + " tensors bit-identical");
        assertTrue(worst <= tol, what + ": weights differ by " + worst + " (relative L2), tolerance " + tol);
        return worst;
    }

    static void compareScalars(String what, List<Double> got, List<Double> want, double tol) {
        assertEquals(want.size(), got.size());
        double worst = 0;
        for (int i = 0; i < want.size(); i++) worst = Math.max(worst, Math.abs(got.get(i) - want.get(i)) / Math.max(Math.abs(want.get(i)), 1e-30));
        CudaVsCpuGpuTest.metric(what, worst, tol);
        assertTrue(worst <= tol, what + ": " + got + " vs " + want);
    }

    static List<Double> flatten(List<List<Double>> xs) {
        return xs.stream().flatMap(List::stream).toList();
    }

    @Test
    void twoRanksOnOneGpuEqualOneRankAccumulatingTheirMicroBatches() {
        for (Precision p : new Precision[] {Precision.FP32, Precision.BF16}) {
            double tol = p == Precision.FP32 ? 1e-6 : 1e-2;
            Outcome one = single(p, 1, 2, 3);
            List<Outcome> two = ranks(p, 2, false, Request.AUTO, 3);
            String tag = "dp_" + p + "_2ranks_host_vs_1x2";
            for (Outcome r : two) {
                assertEquals("host", r.transport(), "two ranks on one GPU sum through the host");
                compareScalars(tag + "_losses", flatten(r.losses()), flatten(one.losses()), tol);
                compareScalars(tag + "_norms", r.norms(), one.norms(), tol);
                compareWeights(tag, r.weights(), one.weights(), tol);
            }
            assertEquals(two.get(0).norms(), two.get(1).norms(), "the gradient norm is the same on every rank");
            for (String name : two.get(0).weights().keySet()) {
                assertArrayEquals(two.get(0).weights().get(name), two.get(1).weights().get(name), name + ": the ranks hold the same weights");
            }
        }
    }

    @Test
    void aStateWrittenByTwoRanksResumesInOneProcess(@TempDir Path tmp) {
        Path file = tmp.resolve("state.safetensors");
        List<Outcome> continued = Ranks.run(LocalGroup.create(2, Duration.ofSeconds(120)), g -> {
            try (CudaGsaBackend b = CudaGsaBackend.open(request(g, 0, Precision.FP32, Request.HOST))) {
                b.setTrainable(new TrainableSet.All(), 1);
                List<List<Double>> losses = new ArrayList<>();
                List<Double> norms = new ArrayList<>();
                trainRank(b, g, 1, 2, 1, losses, norms);
                if (g.rank() == 0) {
                    try (TensorWriter w = SafeTensorsWriter.create(file, b.stateSpecs(), b.stateMetadata())) {
                        b.writeState(w);
                        w.commit();
                    }
                } else {
                    b.writeState(null);
                }
                g.barrier();
                losses.clear();
                norms.clear();
                trainRank(b, g, 3, 4, 1, losses, norms);
                return new Outcome(losses, norms, weights(b), b.dataParallelTransport());
            }
        });
        try (CudaGsaBackend b = CudaGsaBackend.open(request(1, Precision.FP32)); SafeTensors st = SafeTensors.open(file)) {
            b.setTrainable(new TrainableSet.All(), 1);
            b.readState(st);
            List<List<Double>> losses = new ArrayList<>();
            List<Double> norms = new ArrayList<>();
            trainSingle(b, 3, 4, 1, 2, losses, norms);
            compareScalars("dp_fp32_resume_2ranks_to_1_losses", flatten(continued.getFirst().losses()), flatten(losses), 1e-6);
            compareScalars("dp_fp32_resume_2ranks_to_1_norms", continued.getFirst().norms(), norms, 1e-6);
            compareWeights("dp_fp32_resume_2ranks_to_1", continued.getFirst().weights(), weights(b), 1e-6);
        }
    }

    @Test
    void oneRankPerGpuOverNcclEqualsOneGpuWithTheWholeBatch() {
        int gpus = Cuda.deviceCount();
        assumeTrue(gpus >= 2, "one GPU here");
        assumeTrue(Nccl.available(), "no NCCL here: " + Nccl.unavailableReason());
        int world = Math.min(gpus, 8);
        Outcome one = single(Precision.BF16, world, 1, 3);
        List<Outcome> many = ranks(Precision.BF16, world, true, Request.AUTO, 3);
        String tag = "dp_bf16_" + world + "gpus_nccl_vs_1gpu_micro" + world;
        for (Outcome r : many) {
            assertEquals("nccl", r.transport(), "a GPU per rank: NCCL");
            compareScalars(tag + "_norms", r.norms(), one.norms(), 1e-2);
            compareWeights(tag, r.weights(), one.weights(), 1e-2);
            double sum = 0, want = 0;
            for (int s = 0; s < 3; s++) {
                for (double x : r.losses().get(s)) sum += x;
                want += one.losses().get(s).getFirst();
            }
            compareScalars(tag + "_loss_sums", List.of(sum), List.of(want), 1e-2);
        }
        for (int r = 1; r < world; r++) assertEquals(many.getFirst().norms(), many.get(r).norms(), "the norm is the same on every rank");
    }
}
