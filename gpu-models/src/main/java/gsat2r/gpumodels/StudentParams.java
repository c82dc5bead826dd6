package gsat2r.gpumodels;

import gsat2r.core.model.gsa.ParameterView;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** Where a student's layers find their weights (compute copies) and gradients (fp32) on the device. */
interface StudentParams {
    Gpu gpu();

    /** The compute storage type of weights and activations. */
    ElementType type();

    /** The compute copy of a tensor (a view of the one weight buffer). */
    DeviceBuffer w(ParameterView v);

    /** The fp32 gradient of a tensor (a view of the one gradient buffer). */
    DeviceBuffer g(ParameterView v);

    /** The LoRA adapter of a projection while a LoRA stage runs, else null. */
    default LoraGpu.Adapter adapter(ParameterView v) {
        return null;
    }

    default Buffers buffers() {
        return new Buffers(gpu(), type());
    }
}
