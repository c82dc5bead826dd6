package gsat2r.cli;

import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorSpec;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.Device;
import gsat2r.training.BackendRequest;
import gsat2r.training.LossSums;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.TrainingBackend;
import gsat2r.cputrain.CpuDevice;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.core.safetensors.DType;
import java.util.Map;

import java.nio.file.Path;
import java.util.List;

/**
 * The real CPU device, except that its training backend's the N-th {@link TrainingBackend#optimizerStep} of the process
 * ({@code -Dgsat2r.test.haltAtStep=N}) blocks for ever, so that a test can SIGKILL a {@code t2r finetune}
 * at a known point without racing it. Not registered in this module's services: {@link FinetuneGsaKillTest}
 * puts a services file naming it first on the child JVM's class path, so the trainer picks it before
 * the real factory.
 */
public final class HaltingCpuDevice implements Device {
    static final String HALT_PROPERTY = "gsat2r.test.haltAtStep";

    private final CpuDevice real = new CpuDevice();

    @Override
    public String name() {
        return real.name();
    }

    @Override
    public List<Precision> precisions() {
        return real.precisions();
    }

    @Override
    public LanguageModel load(ModelDirectory dir, Precision precision, int index) {
        return real.load(dir, precision, index);
    }

    @Override
    public TrainingBackend openTraining(BackendRequest request) {
        return new Halting(real.openTraining(request), Long.getLong(HALT_PROPERTY, -1));
    }

    private static final class Halting implements TrainingBackend {
        private final TrainingBackend inner;
        private final long haltAt;
        private long steps;

        Halting(TrainingBackend inner, long haltAt) {
            this.inner = inner;
            this.haltAt = haltAt;
        }

        @Override
        public void optimizerStep(AdamWStep step) {
            if (++steps == haltAt) {
                while (true) {
                    try {
                        Thread.sleep(60_000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
            }
            inner.optimizerStep(step);
        }

        @Override public String description() { return inner.description().replace(")", "; halting at optimizer step " + haltAt + ")"); }
        @Override public int vocabSize() { return inner.vocabSize(); }
        @Override public List<ParameterInfo> parameters() { return inner.parameters(); }
        @Override public List<ParameterInfo> setTrainable(TrainableSet set, long seed) { return inner.setTrainable(set, seed); }
        @Override public LossSums forwardBackward(Objective o, TokenBatch b, double s, boolean last) { return inner.forwardBackward(o, b, s, last); }
        @Override public LossSums evaluate(Objective o, TokenBatch b) { return inner.evaluate(o, b); }
        @Override public double gradientNorm() { return inner.gradientNorm(); }
        @Override public void mergeLora() { inner.mergeLora(); }
        @Override public Map<String, float[]> loraFactors() { return inner.loraFactors(); }
        @Override public List<TensorSpec> stateSpecs() { return inner.stateSpecs(); }
        @Override public void writeState(TensorWriter out) { inner.writeState(out); }
        @Override public void readState(SafeTensors in) { inner.readState(in); }
        @Override public Map<String, String> stateMetadata() { return inner.stateMetadata(); }
        @Override public void saveStudent(Path dir, DType dtype) { inner.saveStudent(dir, dtype); }
        @Override public float[] readParameter(String name) { return inner.readParameter(name); }
        @Override public void writeParameter(String name, float[] values) { inner.writeParameter(name, values); }
        @Override public float[] readGradient(String name) { return inner.readGradient(name); }
        @Override public void close() { inner.close(); }
    }
}
