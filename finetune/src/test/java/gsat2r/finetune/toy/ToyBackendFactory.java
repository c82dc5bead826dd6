package gsat2r.finetune.toy;

import gsat2r.training.BackendFactory;
import gsat2r.training.BackendRequest;
import gsat2r.training.TrainingBackend;

/** Opens {@link ToyBackend}s for {@code model_type "toy-lm"} students on the device {@code cpu}. */
public final class ToyBackendFactory implements BackendFactory {
    @Override
    public String name() {
        return "toy-cpu";
    }

    @Override
    public boolean supports(String device, String studentModelType) {
        return device.equals("cpu") && studentModelType.equals(ToyModel.MODEL_TYPE);
    }

    @Override
    public TrainingBackend open(BackendRequest r) {
        return ToyBackend.open(r.teacher(), r.student(), r.needsTeacher());
    }
}
