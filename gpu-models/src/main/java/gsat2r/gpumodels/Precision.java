package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.gpu.ElementType;

import java.util.Locale;

/**
 * The storage type of what the GPU models compute with: weights' compute copies, activations and their
 * gradients. Arithmetic is fp32 either way, and training keeps fp32 master weights, fp32 weight gradients
 * and fp32 optimizer moments whatever this is.
 * <ul>
 * <li>{@link #BF16}: bf16 storage and tensor-core products (the fast path, and the default);</li>
 * <li>{@link #FP32}: fp32 everywhere, products without TF32 (the accuracy reference for tests: it agrees
 *     with the CPU backend to ~1e-5).</li>
 * </ul>
 * Chosen with the system property {@value #PROPERTY} or the environment variable {@value #ENV}
 * ({@code bf16} or {@code fp32}).
 */
public enum Precision {
    FP32(ElementType.F32), BF16(ElementType.BF16);

    public static final String PROPERTY = "gsat2r.cuda.precision";
    public static final String ENV = "T2R_CUDA_PRECISION";

    private final ElementType type;

    Precision(ElementType type) {
        this.type = type;
    }

    /** The storage type of activations and compute weights. */
    public ElementType type() {
        return type;
    }

    /** {@value #PROPERTY}, else {@value #ENV}, else bf16. */
    public static Precision configured() {
        String v = System.getProperty(PROPERTY);
        if (v == null) v = System.getenv(ENV);
        if (v == null || v.isBlank()) return BF16;
        return switch (v.strip().toLowerCase(Locale.ROOT)) {
            case "bf16", "bfloat16" -> BF16;
            case "fp32", "f32", "float32" -> FP32;
            default -> throw new T2rException(PROPERTY + " / " + ENV + ": '" + v + "' is not a precision (bf16 or fp32)");
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
