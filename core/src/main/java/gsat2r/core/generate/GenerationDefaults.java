package gsat2r.core.generate;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The sampling defaults of a model's {@code generation_config.json}, as transformers'
 * {@code GenerationConfig} reads them.
 *
 * <p>Honoured: {@code do_sample}, {@code temperature}, {@code top_p}, {@code top_k},
 * {@code repetition_penalty}, {@code max_new_tokens} and {@code max_length} (prompt and new tokens
 * together; {@code max_new_tokens} wins when both are given), and {@code eos_token_id} (one id or a list:
 * every one of them stops generation; read by {@link gsat2r.core.tokenizer.Tokenizer}). Keys of other
 * decoding methods (beam search, min-p, typical sampling, n-gram blocking, ...) are listed in
 * {@link #ignored} when set to anything but their neutral value; everything else (token ids, caching,
 * output flags) does not change which tokens are drawn.
 *
 * @param file    the file read, or null when the model has none
 * @param ignored the keys set but not honoured, for a note
 */
public record GenerationDefaults(Path file, Boolean doSample, Double temperature, Double topP, Integer topK,
                                 Double repetitionPenalty, Integer maxNewTokens, Integer maxLength, List<String> ignored) {

    public static final String FILE = "generation_config.json";
    static final List<String> SAMPLING_KEYS = List.of("do_sample", "temperature", "top_p", "top_k");
    /** Keys that change decoding but are not implemented here, with their neutral values (null: absent or null). */
    static final Map<String, Object> NOT_HONOURED = Map.ofEntries(Map.entry("num_beams", 1), Map.entry("num_beam_groups", 1),
            Map.entry("penalty_alpha", 0), Map.entry("min_p", 0), Map.entry("typical_p", 1), Map.entry("epsilon_cutoff", 0),
            Map.entry("eta_cutoff", 0), Map.entry("no_repeat_ngram_size", 0), Map.entry("min_length", 0),
            Map.entry("min_new_tokens", 0), Map.entry("diversity_penalty", 0), Map.entry("encoder_repetition_penalty", 1),
            Map.entry("length_penalty", 1), Map.entry("bad_words_ids", List.of()), Map.entry("force_words_ids", List.of()),
            Map.entry("suppress_tokens", List.of()), Map.entry("begin_suppress_tokens", List.of()), Map.entry("sequence_bias", Map.of()),
            Map.entry("forced_bos_token_id", -1), Map.entry("forced_eos_token_id", -1), Map.entry("guidance_scale", 1),
            Map.entry("exponential_decay_length_penalty", List.of()), Map.entry("max_time", 0), Map.entry("stop_strings", List.of()));

    public GenerationDefaults {
        ignored = List.copyOf(ignored);
    }

    public static final GenerationDefaults NONE = new GenerationDefaults(null, null, null, null, null, null, null, null, List.of());

    /** The defaults of the model in {@code dir}; {@link #NONE} without a generation_config.json. */
    public static GenerationDefaults read(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) return NONE;
        return parse(file, gsat2r.core.io.Json.readObject(file, "checked above"));
    }

    static GenerationDefaults parse(Path file, JsonNode c) {
        Boolean doSample = null;
        if (present(c, "do_sample")) {
            if (!c.get("do_sample").isBoolean()) throw bad(file, "do_sample", "true or false", c);
            doSample = c.get("do_sample").booleanValue();
        }
        Double temperature = number(file, c, "temperature", 0, false, Double.MAX_VALUE, ">= 0");
        Double topP = number(file, c, "top_p", 0, true, 1, "in (0, 1]");
        Double penalty = number(file, c, "repetition_penalty", 0, true, Double.MAX_VALUE, "> 0");
        Integer topK = integer(file, c, "top_k");
        Integer maxNew = integer(file, c, "max_new_tokens");
        Integer maxLength = integer(file, c, "max_length");
        List<String> ignored = new ArrayList<>();
        for (var e : NOT_HONOURED.entrySet()) {
            if (present(c, e.getKey()) && !neutral(c.get(e.getKey()), e.getValue())) ignored.add(e.getKey());
        }
        ignored.sort(null);
        return new GenerationDefaults(file, doSample, temperature, topP, topK, penalty, maxNew, maxLength, ignored);
    }

    /** Whether the file says how to sample; a file with none of these (one transformers derived from config.json) does not. */
    public boolean setsSampling() {
        return doSample != null || temperature != null || topP != null || topK != null;
    }

    /** The new-token budget for a prompt of {@code promptLength} tokens, if the file sets one. */
    public Integer maxNewTokens(int promptLength) {
        if (maxNewTokens != null) return maxNewTokens;
        if (maxLength != null) return Math.max(0, maxLength - promptLength);
        return null;
    }

    private static boolean present(JsonNode c, String key) {
        return c.has(key) && !c.get(key).isNull();
    }

    private static boolean neutral(JsonNode v, Object neutral) {
        if (neutral instanceof Number n) return v.isNumber() && v.asDouble() == n.doubleValue();
        return (v.isArray() || v.isObject()) && v.isEmpty();
    }

    private static Double number(Path file, JsonNode c, String key, double min, boolean exclusive, double max, String rule) {
        if (!present(c, key)) return null;
        JsonNode v = c.get(key);
        double d = v.asDouble();
        if (!v.isNumber() || !Double.isFinite(d) || (exclusive ? d <= min : d < min) || d > max) throw bad(file, key, "a number " + rule, c);
        return d;
    }

    private static Integer integer(Path file, JsonNode c, String key) {
        if (!present(c, key)) return null;
        JsonNode v = c.get(key);
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 0) throw bad(file, key, "an integer >= 0", c);
        return v.intValue();
    }

    private static T2rException bad(Path file, String key, String what, JsonNode c) {
        return new T2rException(file + ": " + key + ": must be " + what + " (got " + c.get(key) + ")");
    }
}
