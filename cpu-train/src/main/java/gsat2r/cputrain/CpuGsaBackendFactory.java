package gsat2r.cputrain;

import gsat2r.core.config.GsaConfig;
import gsat2r.training.BackendFactory;
import gsat2r.training.BackendRequest;
import gsat2r.training.TrainingBackend;

/** Opens {@link CpuGsaBackend}s: GSA students ({@code model_type "gsa"}) on the device {@code cpu}. */
public final class CpuGsaBackendFactory implements BackendFactory {
    @Override
    public String name() {
        return "cpu-gsa";
    }

    @Override
    public boolean supports(String device, String studentModelType) {
        return device.equals("cpu") && studentModelType.equals(GsaConfig.MODEL_TYPE);
    }

    @Override
    public TrainingBackend open(BackendRequest request) {
        return CpuGsaBackend.open(request);
    }
}
