package gsat2r.gpu.cuda;

/** Anything that stands for a device address (a CUdeviceptr), passed to kernels by value. */
public interface DevicePointer {
    long address();
}
