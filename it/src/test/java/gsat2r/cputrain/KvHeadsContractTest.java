package gsat2r.cputrain;

import gsat2r.training.Device;
import gsat2r.training.TrainingBackendContract;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * The CPU backend meets the backend contract on a student whose GSA layer has a kv head per query head (the tiny Llama
 * fixture's 2 kv heads copied into 4, so each copy is read by one query head), beside an attention layer with the
 * teacher's 2: every copy's gradients against central differences, its state through save and resume.
 */
class KvHeadsContractTest extends TrainingBackendContract {

    @TempDir
    static Path dir;
    static Models models;

    @BeforeAll
    static void make() {
        Path teacher = TinyStudents.llamaTeacher(dir.resolve("teacher"));
        models = new Models(teacher, TinyStudents.kvHeadsStudent(teacher, dir.resolve("student"), 8, 4));
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
