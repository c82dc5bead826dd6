package gsat2r.training;

/**
 * Opens {@link TrainingBackend}s. Implementations are found with {@link java.util.ServiceLoader}
 * (a line in {@code META-INF/services/gsat2r.training.BackendFactory}); the trainer takes the
 * first that {@link #supports} the recipe's device and the student's {@code config.json}
 * {@code model_type} ({@code "gsa"} for the GSA student).
 */
public interface BackendFactory {

    /** For messages, e.g. {@code "cpu-gsa"}. */
    String name();

    boolean supports(String device, String studentModelType);

    TrainingBackend open(BackendRequest request);
}
