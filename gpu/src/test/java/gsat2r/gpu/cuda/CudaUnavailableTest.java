package gsat2r.gpu.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import gsat2r.core.T2rException;
import gsat2r.gpu.Gpu;
import org.junit.jupiter.api.Test;

/** On a machine without the NVIDIA driver (CI), or with a build that has no kernels, every entry point says so in one line. */
class CudaUnavailableTest {
    @Test
    void withoutTheDriverEveryEntryPointSaysSoInOneLine() {
        assumeFalse(Cuda.available(), "this machine has CUDA");
        String reason = Cuda.unavailableReason();
        assertNotNull(reason);
        assertTrue(reason.startsWith("no CUDA driver found") || reason.startsWith("no CUDA device") || reason.startsWith("CUDA driver found")
                || reason.startsWith("this t2r was built without its CUDA kernels"),
                reason);
        assertFalse(reason.contains("\n"), reason);
        T2rException e = assertThrows(T2rException.class, Gpu::open);
        assertEquals(reason, e.getMessage());
        assertThrows(CudaException.class, () -> CudaContext.open(0));
        assertThrows(CudaException.class, CublasLt::requireAvailable);
        assertFalse(CublasLt.available());
    }
}
