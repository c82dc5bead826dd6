package gsat2r.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import gsat2r.gpu.cuda.Cuda;
import gsat2r.gpu.cuda.CudaException;
import org.junit.jupiter.api.Test;

/**
 * A build without nvcc (gpu/pom.xml skips the kernels when it finds none) runs on the CPU, and every GPU
 * entry point says in one line that the build has no kernels and how to get them. CI builds a clone
 * without nvcc and runs this (scripts/no-nvcc-build.sh); with the kernels it is skipped.
 */
class NoKernelsTest {

    @Test
    void withoutTheFatbinCudaIsUnavailableWithOneLineSayingHowToGetIt() {
        assumeFalse(Cuda.hasKernels(), "this build has its kernels");
        assertFalse(Cuda.available());
        assertEquals(Cuda.NO_KERNELS, Cuda.unavailableReason());
        assertEquals(Cuda.NO_KERNELS, assertThrows(CudaException.class, Cuda::requireAvailable).getMessage());
        assertEquals(Cuda.NO_KERNELS, assertThrows(CudaException.class, Gpu::kernelImage).getMessage());
        assertFalse(Cuda.NO_KERNELS.contains("\n"));
    }
}
