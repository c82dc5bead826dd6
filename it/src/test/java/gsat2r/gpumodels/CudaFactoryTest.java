package gsat2r.gpumodels;

import gsat2r.converter.GateInit;
import gsat2r.core.T2rException;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.cputrain.CpuDevice;
import gsat2r.gpu.cuda.Cuda;
import gsat2r.gpu.cuda.CudaException;
import gsat2r.training.BackendRequest;
import gsat2r.training.Devices;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The devices are found by ServiceLoader; without a driver the CUDA one fails with one line; a precision a device lacks is refused. */
class CudaFactoryTest {

    @TempDir
    static Path tmp;

    @Test
    void serviceLoaderFindsBothDevices() {
        Devices all = Devices.discover();
        assertInstanceOf(CudaDevice.class, all.get("cuda"));
        assertInstanceOf(CpuDevice.class, all.get("cpu"));
        assertEquals(List.of(Precision.BF16, Precision.FP32), all.get("cuda").precisions());
        assertEquals(Precision.FP32, all.get("cpu").defaultPrecision());
        T2rException e = assertThrows(T2rException.class, () -> all.get("tpu"));
        assertEquals("no device 'tpu' in this build (available: cpu, cuda)", e.getMessage().replace("cuda, cpu", "cpu, cuda"));
    }

    @Test
    void aPrecisionTheDeviceLacksIsRefusedInOneLine() {
        T2rException e = assertThrows(T2rException.class, () -> new CpuDevice().requirePrecision(Precision.BF16));
        assertEquals("device cpu does not compute in bf16 (it offers fp32)", e.getMessage());
    }

    @Test
    void withoutADriverOpeningSaysSoInOneLine() {
        assumeFalse(Cuda.available(), "this machine has a usable CUDA driver");
        Path teacher = TestModels.kjvTeacher();
        Path student = TestModels.student(teacher, tmp.resolve("student"), 16, GateInit.RANDOM, List.of());
        BackendRequest r = BackendRequest.single(ModelDirectory.open(teacher), ModelDirectory.open(student), Precision.BF16, 1, 8, false);
        CudaException e = assertThrows(CudaException.class, () -> new CudaDevice().openTraining(r));
        assertEquals(Cuda.unavailableReason(), e.getMessage());
        assertTrue(e.getMessage().lines().count() == 1);
        assertThrows(CudaException.class, () -> new CudaDevice().load(ModelDirectory.open(teacher), Precision.BF16, 0));
    }
}
