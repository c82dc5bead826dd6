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
    static Path dir;
    static Models models;

    @BeforeAll
    static void make() {
        Path teacher = TinyStudents.llamaTeacher(dir.resolve("teacher"));
        models = new Models(teacher, TinyStudents.convert(teacher, dir.resolve("student"), 8, GateInit.RANDOM, List.of()));
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
