package gsat2r.core.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * The project's JSON mappers (Jackson mappers are thread-safe once built, so one of each serves every
 * reader and writer).
 */
public final class Json {
    private Json() {}

    /** For files that people and other tools write (config.json, headers, state files): a duplicate key is an error, not a silent overwrite. */
    public static final JsonMapper STRICT = JsonMapper.builder().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

    /** One-line output: metrics lines, {@code --format json}. */
    public static final JsonMapper COMPACT = JsonMapper.builder().build();

    /** Indented output: run.json, reports, summaries. */
    public static final JsonMapper PRETTY = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
}
