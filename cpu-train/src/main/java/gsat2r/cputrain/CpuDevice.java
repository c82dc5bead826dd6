package gsat2r.cputrain;

import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.training.BackendRequest;
import gsat2r.training.Device;
import gsat2r.training.TrainingBackend;

import java.util.List;

/** The CPU reference ({@code --device cpu}): fp32 models of core, for inference and training. */
public final class CpuDevice implements Device {

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public List<Precision> precisions() {
        return List.of(Precision.FP32);
    }

    @Override
    public LanguageModel load(ModelDirectory dir, Precision precision, int index) {
        requirePrecision(precision);
        return dir.isStudent() ? GsaModel.load(dir) : LlamaModel.load(dir, null);
    }

    @Override
    public TrainingBackend openTraining(BackendRequest request) {
        requirePrecision(request.precision());
        return CpuGsaBackend.open(request);
    }
}
