package gsat2r.gpumodels;

import gsat2r.training.BackendFactory;
import gsat2r.training.BackendRequest;
import gsat2r.finetune.Backends;
import gsat2r.gpu.cuda.Cuda;
import gsat2r.gpu.cuda.CudaException;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The trainer finds the CUDA backend by ServiceLoader; without a driver it fails with one line, before reading any file. */
class CudaFactoryTest {

    @Test
    void serviceLoaderFindsTheCudaBackendForGsaStudents() {
        Backends all = Backends.discover();
        BackendFactory f = all.factoryFor("cuda", "gsa");
        assertInstanceOf(CudaGsaBackendFactory.class, f);
        assertEquals("cuda-gsa", f.name());
        assertFalse(f.supports("cpu", "gsa"));
        assertFalse(f.supports("cuda", "llama"));
        assertEquals("cpu-gsa", all.factoryFor("cpu", "gsa").name());
    }

    @Test
    void withoutADriverOpeningSaysSoInOneLine() {
        assumeFalse(Cuda.available(), "this machine has a usable CUDA driver");
        Path nowhere = Path.of("no-such-dir");
        CudaException e = assertThrows(CudaException.class, () -> new CudaGsaBackendFactory()
                .open(new BackendRequest(nowhere, nowhere, "cuda", 1, 8, false, true)));
        assertEquals(Cuda.unavailableReason(), e.getMessage());
        assertTrue(e.getMessage().lines().count() == 1);
        assertThrows(CudaException.class, () -> GpuLanguageModels.load(nowhere));
    }

    @Test
    void precisionComesFromThePropertyAndRejectsNonsense() {
        String old = System.getProperty(Precision.PROPERTY);
        try {
            System.setProperty(Precision.PROPERTY, "fp32");
            assertEquals(Precision.FP32, Precision.configured());
            System.setProperty(Precision.PROPERTY, "BF16");
            assertEquals(Precision.BF16, Precision.configured());
            System.setProperty(Precision.PROPERTY, "fp8");
            var e = assertThrows(gsat2r.core.T2rException.class, Precision::configured);
            assertTrue(e.getMessage().contains("'fp8' is not a precision"), e.getMessage());
        } finally {
            if (old == null) System.clearProperty(Precision.PROPERTY);
            else System.setProperty(Precision.PROPERTY, old);
        }
    }
}
