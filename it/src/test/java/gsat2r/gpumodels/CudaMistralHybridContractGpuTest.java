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
 * The CUDA backend in fp32 meets the backend contract on a hybrid student: a Mistral teacher (kjv-llama's
 * weights with a sliding window of 16, shorter than the 20 tokens here), layer 0 kept as windowed softmax
 * attention, the other layers GSA with key-pool gates and 32 slots.
 */
@Tag("gpu")
class CudaMistralHybridContractGpuTest extends TrainingBackendContract {

    @TempDir
    static Path dir;
    static Models models;

    @BeforeAll
    static void make() {
        Path teacher = TestModels.mistralTeacher(dir.resolve("teacher"), 16);
        models = new Models(teacher, TestModels.student(teacher, dir.resolve("student"), 32, GateInit.KEY_POOL, List.of(0)));
    }

    @Override
    protected Device device() {
        return new CudaDevice();
    }

    @Override
    protected Models models() {
        return models;
    }

    @Override
    protected int sequenceLength() {
        return 20;
    }
}
