package gsat2r.gpumodels;

import gsat2r.core.config.GsaConfig;
import gsat2r.training.BackendFactory;
import gsat2r.training.BackendRequest;
import gsat2r.training.TrainingBackend;
import gsat2r.gpu.cuda.Cuda;

/**
 * Opens {@link CudaGsaBackend}s: GSA students ({@code model_type "gsa"}) on the device {@code cuda}, in the
 * {@link Precision#configured() configured} precision (bf16 unless {@value Precision#PROPERTY} says fp32).
 * Without a usable driver, opening fails with {@link Cuda}'s one-line reason.
 */
public final class CudaGsaBackendFactory implements BackendFactory {
    private final Precision precision;

    /** The ServiceLoader's constructor: the configured precision. */
    public CudaGsaBackendFactory() {
        this(null);
    }

    /** A factory of backends in {@code precision} (null: the configured one, read when opening). */
    public CudaGsaBackendFactory(Precision precision) {
        this.precision = precision;
    }

    @Override
    public String name() {
        return "cuda-gsa";
    }

    @Override
    public boolean supports(String device, String studentModelType) {
        return device.equals("cuda") && studentModelType.equals(GsaConfig.MODEL_TYPE);
    }

    @Override
    public TrainingBackend open(BackendRequest request) {
        Cuda.requireAvailable();
        return CudaGsaBackend.open(request, precision != null ? precision : Precision.configured());
    }
}
