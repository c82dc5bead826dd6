package gsat2r.gpumodels;

import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.training.BackendRequest;
import gsat2r.training.Device;
import gsat2r.training.MemoryPlan;
import gsat2r.training.TrainingBackend;

import java.util.List;
import java.util.Optional;

/** NVIDIA GPUs through the project's CUDA engine ({@code --device cuda}): bf16 (the default) or fp32. */
public final class CudaDevice implements Device {

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public List<Precision> precisions() {
        return List.of(Precision.BF16, Precision.FP32);
    }

    @Override
    public LanguageModel load(ModelDirectory dir, Precision precision, int index) {
        requirePrecision(precision);
        return GpuLanguageModels.load(dir, precision, CudaGsaBackend.deviceOrdinal(index));
    }

    @Override
    public TrainingBackend openTraining(BackendRequest request) {
        requirePrecision(request.precision());
        return CudaGsaBackend.open(request);
    }

    @Override
    public boolean plansMemory() {
        return true;
    }

    @Override
    public Optional<MemoryPlan> plan(MemoryPlan.Request request) {
        return Optional.of(CudaMemoryPlan.plan(request));
    }
}
