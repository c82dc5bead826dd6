package gsat2r.finetune.toy;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.training.BackendRequest;
import gsat2r.training.Device;
import gsat2r.training.TrainingBackend;

import java.util.List;

/** The device {@code cpu} of the trainer's own tests: {@link ToyBackend}s for {@code model_type "toy-lm"} students. */
public final class ToyDevice implements Device {
    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public boolean accepts(ModelDirectory student) {
        return ToyModel.MODEL_TYPE.equals(student.modelType());
    }

    @Override
    public List<Precision> precisions() {
        return List.of(Precision.FP32);
    }

    @Override
    public LanguageModel load(ModelDirectory dir, Precision precision, int index) {
        throw new T2rException("the toy device trains only");
    }

    @Override
    public TrainingBackend openTraining(BackendRequest r) {
        return ToyBackend.open(r.teacher() == null ? null : r.teacher().path(), r.student().path(), r.needsTeacher());
    }
}
