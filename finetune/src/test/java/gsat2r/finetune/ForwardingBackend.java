package gsat2r.finetune;

import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorSpec;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.TrainingBackend;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** A backend that passes every call on, for tests that change one behaviour (a failure, a count). */
class ForwardingBackend implements TrainingBackend {
    final TrainingBackend inner;

    ForwardingBackend(TrainingBackend inner) {
        this.inner = inner;
    }

    @Override public String description() { return inner.description(); }
    @Override public int vocabSize() { return inner.vocabSize(); }
    @Override public List<ParameterInfo> parameters() { return inner.parameters(); }
    @Override public List<ParameterInfo> setTrainable(TrainableSet set, long seed) { return inner.setTrainable(set, seed); }
    @Override public LossSums forwardBackward(Objective o, TokenBatch b, double s, boolean last) { return inner.forwardBackward(o, b, s, last); }
    @Override public LossSums evaluate(Objective o, TokenBatch b) { return inner.evaluate(o, b); }
    @Override public double gradientNorm() { return inner.gradientNorm(); }
    @Override public void optimizerStep(AdamWStep step) { inner.optimizerStep(step); }
    @Override public void mergeLora() { inner.mergeLora(); }
    @Override public Map<String, float[]> loraFactors() { return inner.loraFactors(); }
    @Override public List<TensorSpec> stateSpecs() { return inner.stateSpecs(); }
    @Override public void writeState(TensorWriter out) { inner.writeState(out); }
    @Override public void readState(SafeTensors in) { inner.readState(in); }
    @Override public java.util.Map<String, String> stateMetadata() { return inner.stateMetadata(); }
    @Override public void saveStudent(Path dir, gsat2r.core.safetensors.DType dtype) { inner.saveStudent(dir, dtype); }
    @Override public float[] readParameter(String name) { return inner.readParameter(name); }
    @Override public void writeParameter(String name, float[] values) { inner.writeParameter(name, values); }
    @Override public float[] readGradient(String name) { return inner.readGradient(name); }
    @Override public void close() { inner.close(); }
}
