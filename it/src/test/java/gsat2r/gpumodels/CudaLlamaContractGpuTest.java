package gsat2r.gpumodels;

import gsat2r.core.model.Precision;
import gsat2r.converter.GateInit;
import gsat2r.training.Device;
import gsat2r.training.TrainingBackendContract;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

/**
 * The CUDA backend in fp32 meets the backend contract (finite-difference gradients of every objective,
 * accumulation, AdamW and its decay rule, trainable sets, LoRA, determinism, exact state round trips,
 * saving) on a GSA student of the demo teacher kjv-llama (every layer GSA, 16 slots, random gates).
 */
@Tag("gpu")
class CudaLlamaContractGpuTest extends TrainingBackendContract {

    @TempDir
    static Path dir;
    static Models models;

    @BeforeAll
    static void make() {
        Path teacher = TestModels.kjvTeacher();
        models = new Models(teacher, TestModels.student(teacher, dir.resolve("student"), 16, GateInit.RANDOM, List.of()));
    }

    @Override
    protected Device device() {
        return new CudaDevice();
    }

    @Override
    protected Models models() {
        return models;
    }
}
