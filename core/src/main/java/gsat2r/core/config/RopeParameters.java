package gsat2r.core.config;

/**
 * Rotary position embedding settings, normalized from either spelling of config.json: the older
 * {@code rope_theta} + {@code rope_scaling} or transformers 5's {@code rope_parameters}.
 *
 * @param type                          how inverse frequencies are scaled
 * @param theta                         the base ({@code rope_theta})
 * @param factor                        {@code linear} and {@code llama3}: the context extension factor (1 for default)
 * @param lowFreqFactor                 {@code llama3} only (NaN otherwise)
 * @param highFreqFactor                {@code llama3} only (NaN otherwise)
 * @param originalMaxPositionEmbeddings {@code llama3} only (0 otherwise)
 */
public record RopeParameters(Type type, double theta, double factor, double lowFreqFactor,
                             double highFreqFactor, int originalMaxPositionEmbeddings) {

    /** The rope types this project computes exactly as transformers does. */
    public enum Type {
        DEFAULT("default"), LINEAR("linear"), LLAMA3("llama3");

        private final String hfName;

        Type(String hfName) {
            this.hfName = hfName;
        }

        /** The spelling in config.json. */
        public String hfName() {
            return hfName;
        }
    }

    public static RopeParameters defaults(double theta) {
        return new RopeParameters(Type.DEFAULT, theta, 1.0, Double.NaN, Double.NaN, 0);
    }

    public static RopeParameters linear(double theta, double factor) {
        return new RopeParameters(Type.LINEAR, theta, factor, Double.NaN, Double.NaN, 0);
    }

    public static RopeParameters llama3(double theta, double factor, double lowFreqFactor, double highFreqFactor,
                                        int originalMaxPositionEmbeddings) {
        return new RopeParameters(Type.LLAMA3, theta, factor, lowFreqFactor, highFreqFactor,
                originalMaxPositionEmbeddings);
    }

    /** One-line description for {@code t2r inspect}. */
    public String describe() {
        return switch (type) {
            case DEFAULT -> "default, theta " + theta;
            case LINEAR -> "linear, theta " + theta + ", factor " + factor;
            case LLAMA3 -> "llama3, theta " + theta + ", factor " + factor + ", low_freq_factor " + lowFreqFactor
                    + ", high_freq_factor " + highFreqFactor + ", original_max_position_embeddings "
                    + originalMaxPositionEmbeddings;
        };
    }
}
