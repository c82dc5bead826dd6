package gsat2r.finetune;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;

/** The module's JSON mappers: compact (metrics lines) and indented (files people read). */
final class Json {
    private Json() {}

    static final JsonMapper COMPACT = JsonMapper.builder().build();
    static final JsonMapper PRETTY = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
}
