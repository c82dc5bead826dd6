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
    static Path dir;
    static Models models;

    @BeforeAll
    static void make() {
        Path teacher = TinyStudents.llamaTeacher(dir.resolve("teacher"));
        models = new Models(teacher, TinyStudents.convStudent(teacher, dir.resolve("student"), 8, 4));
    }

    @Override
    protected Device device() {
        return new CpuDevice();
    }

    @Override
    protected Models models() {
        return models;
    }
}
