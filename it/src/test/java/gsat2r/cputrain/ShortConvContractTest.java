package gsat2r.cputrain;

import gsat2r.training.Device;
import gsat2r.training.TrainingBackendContract;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * The CPU backend meets the backend contract on a student with short convolutions of 4 taps in every GSA layer
 * (the tiny Llama fixture, random kernels): their gradients against central differences, their own learning rate in
 * the optimizer step, their state through save and resume.
 */
class ShortConvContractTest extends TrainingBackendContract {

    @TempDir
    static Path models;
    static Path teacher, student;

    @BeforeAll
    static void models() {
        teacher = TinyStudents.llamaTeacher(models.resolve("teacher"));
        student = TinyStudents.convStudent(teacher, models.resolve("student"), 8, 4);
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

    /** As the plain student's (LlamaGsaContractTest): the contract's default is 1e-2. */
    @Override
    protected double gradientTolerance() {
        return 2e-3;
    }
}
