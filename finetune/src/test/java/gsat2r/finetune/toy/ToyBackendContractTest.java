package gsat2r.finetune.toy;

import gsat2r.training.Device;
import gsat2r.finetune.student.ConversionOptions;
import gsat2r.training.TrainingBackendContract;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

/** The toy backend meets the backend contract (its arithmetic is float64, so the gradient check is tight). */
class ToyBackendContractTest extends TrainingBackendContract {

    @TempDir
    static Path dir;
    static Models models;

    @BeforeAll
    static void make() {
        Path teacher = ToyModels.teacher(dir.resolve("teacher"), 8, 2, 1);
        models = new Models(teacher, dir.resolve("student"));
        ToyModels.convert(teacher, new ConversionOptions(4, 8, "random", List.of(), 2, "float32"), models.student());
    }

    @Override
    protected Device device() {
        return new ToyDevice();
    }

    @Override
    protected Models models() {
        return models;
    }

    @Override
    protected double gradientTolerance() {
        return 1e-4;
    }

    @Override
    protected double differenceStep() {
        return 1e-3;
    }

    @Override
    protected double mergeTolerance() {
        return 1e-6;
    }
}
