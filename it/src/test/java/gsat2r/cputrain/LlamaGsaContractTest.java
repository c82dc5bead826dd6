package gsat2r.cputrain;

import gsat2r.converter.GateInit;
import gsat2r.training.Device;
import gsat2r.training.TrainingBackendContract;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

/**
 * The CPU backend meets the backend contract on a GSA student of the tiny Llama fixture (every layer
 * GSA; bf16 teacher weights, tied embeddings, GQA 4/2, random gates).
 */
class LlamaGsaContractTest extends TrainingBackendContract {

    @TempDir
    static Path models;
    static Path teacher, student;

    @BeforeAll
    static void models() {
        teacher = TinyStudents.llamaTeacher(models.resolve("teacher"));
        student = TinyStudents.convert(teacher, models.resolve("student"), 8, GateInit.RANDOM, List.of());
    }

    @Override
    protected Device device() {
        return new CpuDevice();
    }

    @Override
    protected Path teacherDir() {
        return teacher;
    }

    @Override
    protected Path studentDir() {
        return student;
    }

    /** Measured: 3e-5 (attention transfer) to 3e-4 (distill, finetune, LoRA); the contract's default is 1e-2. */
    @Override
    protected double gradientTolerance() {
        return 2e-3;
    }
}
