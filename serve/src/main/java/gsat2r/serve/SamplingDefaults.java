package gsat2r.serve;

/**
 * What a request that leaves out {@code temperature}, {@code top_p}, {@code top_k} or {@code repetition_penalty} gets:
 * OpenAI's defaults (1, 1, every token, none), or the model's own from its {@code generation_config.json}, as vLLM serves them (the CLI reads the
 * file; {@code do_sample: false} there makes the default greedy).
 *
 * @param temperature 0–2
 * @param topP        0–1
 * @param topK        0 keeps every token
 * @param repetitionPenalty 1 is none
 * @param source      what the startup line says they came from
 */
public record SamplingDefaults(double temperature, double topP, int topK, double repetitionPenalty, String source) {

    public static final SamplingDefaults OPENAI = new SamplingDefaults(1, 1, 0, 1, "OpenAI's");

    public SamplingDefaults {
        if (!(temperature >= 0 && temperature <= 2)) throw new IllegalArgumentException("default temperature must be in [0, 2], got " + temperature);
        if (!(topP >= 0 && topP <= 1)) throw new IllegalArgumentException("default top_p must be in [0, 1], got " + topP);
        if (topK < 0) throw new IllegalArgumentException("default top_k must be >= 0, got " + topK);
        if (!(repetitionPenalty > 0 && repetitionPenalty <= 10)) {
            throw new IllegalArgumentException("default repetition_penalty must be in (0, 10], got " + repetitionPenalty);
        }
    }

    /** For the startup line. */
    public String describe() {
        return "temperature " + temperature + ", top_p " + topP + (topK > 0 ? ", top_k " + topK : "")
                + (repetitionPenalty != 1 ? ", repetition_penalty " + repetitionPenalty : "") + " (" + source + ")";
    }
}
