package gsat2r.gpumodels;

import gsat2r.core.model.Precision;
import gsat2r.converter.GateInit;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.SafeTensorsWriter;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendOutOfMemoryException;
import gsat2r.training.BackendRequest;
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
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A training state moves between the CPU and the CUDA backend (the same tensor names, so {@code --resume}
 * may change {@code device}): both directions continue to the same weights as staying put, to fp32
 * rounding. Running out of device memory is a {@link BackendOutOfMemoryException} with the device's free
 * and total bytes, both from the up-front plan of a micro-batch and from an allocation that fails.
 */
@Tag("gpu")
class CudaStateAndMemoryGpuTest {

    @TempDir
    static Path models;
    static Path teacher, student;

    @BeforeAll
    static void models() {
        teacher = TestModels.kjvTeacher();
        student = TestModels.student(teacher, models.resolve("student"), 32, GateInit.RANDOM, List.of());
    }

    static final Objective DISTILL = new Objective.Distill(1.0, 0.2);

    static BackendRequest request(int micro, int T) {
        return request(micro, T, gsat2r.core.model.Precision.FP32);
    }

    static BackendRequest request(int micro, int T, gsat2r.core.model.Precision p) {
        return BackendRequest.single(gsat2r.core.model.ModelDirectory.open(teacher), gsat2r.core.model.ModelDirectory.open(student), p, micro, T, false);
    }

    static void train(TrainingBackend b, int from, int to) {
        for (int s = from; s <= to; s++) {
            SplitMix64 rng = new SplitMix64(100 + s);
            int[] tokens = new int[2 * 81];
            for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(4096);
            b.forwardBackward(DISTILL, new TokenBatch(2, 80, tokens), 1.0 / 160, true);
            b.optimizerStep(new AdamWStep(s, 1e-3, 0.9, 0.95, 1e-8, 0.1, Math.min(1, 1 / (b.gradientNorm() + 1e-6))));
        }
    }

    @Test
    void aStateMovesBetweenCpuAndCuda(@TempDir Path tmp) {
        for (boolean fromCpu : new boolean[] {true, false}) {
            Path file = tmp.resolve("state-" + fromCpu + ".safetensors");
            try (TrainingBackend first = fromCpu ? CpuGsaBackend.open(request(2, 80)) : CudaGsaBackend.open(request(2, 80))) {
                first.setTrainable(new TrainableSet.All(), 1);
                train(first, 1, 2);
                try (TensorWriter w = SafeTensorsWriter.create(file, first.stateSpecs(), Map.of("format", "pt"))) {
                    first.writeState(w);
                    w.commit();
                }
                try (TrainingBackend second = fromCpu ? CudaGsaBackend.open(request(2, 80)) : CpuGsaBackend.open(request(2, 80));
                     SafeTensors st = SafeTensors.open(file)) {
                    second.setTrainable(new TrainableSet.All(), 1);
                    assertEquals(first.stateSpecs(), second.stateSpecs(), "the same state tensors on both devices");
                    second.readState(st);
                    train(first, 3, 4);
                    train(second, 3, 4);
                    double num = 0, den = 0;
                    for (ParameterInfo p : first.parameters()) {
                        float[] a = first.readParameter(p.name()), b = second.readParameter(p.name());
                        for (int i = 0; i < a.length; i++) {
                            num += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
                            den += (double) a[i] * a[i];
                        }
                    }
                    double err = Math.sqrt(num / den);
                    System.out.printf("GPU-METRIC state_%s_then_2_steps %.3e 1e-05%n", fromCpu ? "cpu_to_cuda" : "cuda_to_cpu", err);
                    assertTrue(err <= 1e-5, "weights after moving the state " + (fromCpu ? "cpu -> cuda" : "cuda -> cpu") + ": " + err);
                }
            }
        }
    }

    @Test
    void runningOutOfDeviceMemoryIsReportedWithFreeAndTotalBytes() {
        BackendOutOfMemoryException planned = assertThrows(BackendOutOfMemoryException.class,
                () -> CudaGsaBackend.open(request(100_000, 4096, Precision.BF16)).close());
        System.out.println("GPU-NOTE planned: " + planned.getMessage());
        assertTrue(planned.freeBytes() > 0 && planned.totalBytes() >= planned.freeBytes(), planned.getMessage());
        assertTrue(planned.requestedBytes() > planned.freeBytes(), planned.getMessage());
        assertTrue(planned.getMessage().startsWith("cuda:0: out of memory allocating "), planned.getMessage());

        try (CudaGsaBackend b = CudaGsaBackend.open(request(1, 16))) {
            b.setTrainable(new TrainableSet.All(), 1);
            int rows = 12_000, T = 1024;                            // logits alone: 12.3M rows x 4096 x 4 bytes = 201 GB
            TokenBatch huge = new TokenBatch(rows, T, new int[rows * (T + 1)]);
            BackendOutOfMemoryException e = assertThrows(BackendOutOfMemoryException.class, () -> b.forwardBackward(DISTILL, huge, 1e-7, true));
            System.out.println("GPU-NOTE allocation: " + e.getMessage());
            assertTrue(e.freeBytes() > 0 && e.totalBytes() > 0, e.getMessage());
            assertTrue(e.getMessage().contains("a training step on 12000 x 1024 tokens"), e.getMessage());
            // the backend is still usable afterwards
            train(b, 1, 1);
        }
    }
}
