package gsat2r.training;

import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;

import java.util.List;

/**
 * A place models run, for inference and for training alike: the CPU reference ({@code cpu}) or a GPU
 * engine ({@code cuda}). Implementations are plug-ins found with {@link java.util.ServiceLoader} (a line
 * in {@code META-INF/services/gsat2r.training.Device}); {@link Devices} picks one by name, which is what
 * {@code --device} and a recipe's {@code device} name. The precision is the caller's choice among
 * {@link #precisions()} ({@code --precision}, a recipe's {@code precision}), never a setting outside the
 * run.
 */
public interface Device {

    /** The name {@code --device} and recipes use: {@code cpu}, {@code cuda}. */
    String name();

    /** Whether this device runs {@code student} (by default: any GSA student). */
    default boolean accepts(ModelDirectory student) {
        return student.isStudent();
    }

    /** The precisions this device computes in, the default first. */
    List<Precision> precisions();

    /** The precision used when none is asked for. */
    default Precision defaultPrecision() {
        return precisions().getFirst();
    }

    /**
     * The model of {@code dir} (teacher or student, as {@link ModelDirectory#kind()} says) on this device,
     * for inference ({@code t2r logits}, {@code generate}, {@code eval}); {@code index} picks one of several
     * devices of this kind (0 for a single process).
     */
    LanguageModel load(ModelDirectory dir, Precision precision, int index);

    /** A training backend for {@code request} (its precision one of {@link #precisions()}). */
    TrainingBackend openTraining(BackendRequest request);

    /**
     * What a run will need of this device's memory, stage by stage, from the models' configs alone (nothing
     * is loaded), or empty when this device does not plan (the CPU: the Java heap reports itself).
     */
    default java.util.Optional<MemoryPlan> plan(MemoryPlan.Request request) {
        return java.util.Optional.empty();
    }

    /** Whether {@link #plan} says anything (so that a caller builds a request only then). */
    default boolean plansMemory() {
        return false;
    }

    /** Fails with one line when this device does not compute in {@code p}. */
    default void requirePrecision(Precision p) {
        if (!precisions().contains(p)) {
            throw new gsat2r.core.T2rException("device " + name() + " does not compute in " + p + " (it offers "
                    + String.join(", ", precisions().stream().map(Precision::spelling).toList()) + ")");
        }
    }
}
