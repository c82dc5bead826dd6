package gsat2r.core.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

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

    /**
     * The JSON object in {@code file}, read strictly, or a one-line error that starts with the file's name:
     * {@code no such file (missing)}, {@code cannot read (why)}, {@code not valid JSON (line L, column C): what},
     * {@code not a JSON object}.
     */
    public static JsonNode readObject(Path file, String missing) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new T2rException(file + ": no such file (" + missing + ")");
        } catch (CharacterCodingException e) {
            throw new T2rException(file + ": not UTF-8 text (a binary file?)");
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + AtomicFiles.oneLine(e) + ")", e);
        }
        return parseObject(text, file.toString());
    }

    /** The JSON object in {@code text}, parsed strictly; {@code where} (the file's name) starts every error message. */
    public static JsonNode parseObject(String text, String where) {
        JsonNode root;
        try {
            root = STRICT.readTree(text);
        } catch (JacksonException e) {
            throw new T2rException(where + ": not valid JSON" + problem(e));
        }
        if (root == null || !root.isObject()) throw new T2rException(where + ": not a JSON object");
        return root;
    }

    /**
     * What a parser found wrong, for a message: {@code " (line L, column C): what"}, without the parser's own
     * description of its input ({@code [Source: ...]}) that its messages carry.
     */
    public static String problem(JacksonException e) {
        String at = e.getLocation() == null || e.getLocation().getLineNr() < 1 ? ""
                : "line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
        String what = e.getOriginalMessage() == null ? "" : e.getOriginalMessage().lines().findFirst().orElse("");
        what = what.replaceAll("\\s*\\((?:start marker at )?\\[Source: .*$", "").replaceAll("\\s*at \\[Source: .*$", "").strip();
        // The parser's list of what a JSON value may start with, and its character codes, say nothing to a user.
        what = what.replaceAll(" \\(code \\d+\\)", "").replaceAll(": expected a valid value \\(JSON String, Number.*$", "")
                .replaceAll(": was expecting \\(JSON String, Number.*$", "");
        return at.isEmpty() ? (what.isEmpty() ? "" : " (" + what + ")") : " (" + at + ")" + (what.isEmpty() ? "" : ": " + what);
    }
}
