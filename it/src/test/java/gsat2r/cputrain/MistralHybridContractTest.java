package gsat2r.cputrain;

import gsat2r.converter.GateInit;
import gsat2r.training.Device;
import gsat2r.training.TrainingBackendContract;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

/**
 * The CPU backend meets the backend contract on a hybrid student of the tiny Mistral fixture: layer 0
 * kept as sliding-window softmax attention (window 16, shorter than the 20 tokens here), layer 1 GSA
 * with key-pool gates; one kv head, head_dim 32 with hidden 96 (expand_k = expand_v = 4/3).
 */
class MistralHybridContractTest extends TrainingBackendContract {

    @TempDir
    static Path dir;
    static Models models;

    @BeforeAll
    static void make() {
        Path teacher = TinyStudents.mistralTeacher(dir.resolve("teacher"));
        models = new Models(teacher, TinyStudents.convert(teacher, dir.resolve("student"), 16, GateInit.KEY_POOL, List.of(0)));
    }

    @Override
    protected Device device() {
        return new CpuDevice();
    }

    @Override
    protected Models models() {
        return models;
    }

    @Override
    protected int sequenceLength() {
        return 20;
    }
}
